"""Problem renderings: GitHub workflow commands escape what they must."""

from __future__ import annotations

from gitopsd.core.document import Span
from gitopsd.core.problems import Problem, Severity, render_github, summary


def test_github_output_escapes_newlines_and_property_separators():
    """Newlines become %0A, and ':' / ',' in properties are escaped."""
    problem = Problem.at(Span("a,b:c.yaml", 3, 5), Severity.WARNING, "x", "two\nlines", "h")
    assert render_github((problem,)) == (
        "::warning file=a%2Cb%3Ac.yaml,line=3,col=5,title=x::two%0Alines (hint: h)"
    )


def test_summary_counts_by_severity():
    """The summary always shows errors and only the other severities present."""
    p = Problem.at(Span("f", 1, 1), Severity.NOTICE, "n", "m")
    assert summary((p, p)) == "0 errors, 2 notices"
