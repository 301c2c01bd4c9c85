"""Hostile and broken files: each is one clear problem on the right line, and the rest still works.

Every test puts a bad file beside a complete, valid set of manifests and checks both halves:
the bad file's problem (code, file, line) and that the good cluster is still yielded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import manifests as m

from gitopsd import desired
from gitopsd.adapters import manifest_files


@pytest.fixture
def good(write):
    """A complete valid graph for one cluster, written beside the bad file."""
    write("good.yaml", m.docs(m.project(), m.policy(), m.schedule(), m.deployment()))


def assert_good_cluster_survives(result) -> None:
    """The valid cluster beside the bad file is still reconciled."""
    assert [str(c.key) for c in result.state.clusters] == ["Production/orders-db"]


def test_malformed_yaml_keeps_earlier_documents(write, check, good):
    """A syntax error in document 2 is reported at its line; document 1 is still read."""
    path = write("bad.yaml", m.policy(name="kept") + "---\nkind: [unclosed\nother: 1\n")
    result = check()
    problem = m.only(result.problems, "yaml-syntax")
    assert problem.file == str(path)
    assert problem.line == m.line_of(path, "kind: [unclosed")
    assert "rest of this file was not read" in problem.message
    assert [r.name for r in result.state.orphan_policies] == ["kept"]
    assert_good_cluster_survives(result)


COPY_FREQUENCIES_UNCLOSED = """\
  copySettings:
    - regionName: US_EAST_1
      frequencies: [HOURLY, DAILY
      shouldCopyOplogs: false
"""


def test_an_unclosed_list_is_reported_where_it_opens(write, check, good):
    """frequencies: [HOURLY, DAILY without ']': the line and column of the '['."""
    path = write("bad.yaml", m.schedule(extra=COPY_FREQUENCIES_UNCLOSED))
    result = check()
    problem = m.only(result.problems, "yaml-syntax")
    line = m.line_of(path, "frequencies: [")
    column = path.read_text().splitlines()[line - 1].index("[") + 1
    assert (problem.line, problem.column) == (line, column)
    assert problem.message == (
        "invalid YAML: the list opened with '[' here is not closed; the rest of this file was"
        " not read"
    )
    assert problem.hint == "add the missing ']'; documents before it in the file were read"
    assert_good_cluster_survives(result)


def test_an_unclosed_mapping_is_reported_where_it_opens(write, check, good):
    """policy: {name: standard without '}' is reported on its own line, not the next."""
    text = m.schedule().replace("  policy:\n    name: standard\n", "  policy: {name: standard\n")
    path = write("bad.yaml", text)
    result = check()
    problem = m.only(result.problems, "yaml-syntax")
    assert problem.line == m.line_of(path, "policy: {")
    assert "the mapping opened with '{' here is not closed" in problem.message
    assert_good_cluster_survives(result)


def test_a_missing_comma_in_a_list_on_many_lines_is_reported_where_it_is(write, check, good):
    """Items on their own lines without a ',' between two: the line of the second item."""
    frequencies = '      frequencies: [\n        "HOURLY"\n        "DAILY"\n      ]\n'
    extra = "  copySettings:\n    - regionName: US_EAST_1\n" + frequencies
    path = write("bad.yaml", m.schedule(extra=extra))
    result = check()
    problem = m.only(result.problems, "yaml-syntax")
    assert problem.line == m.line_of(path, '"DAILY"')
    assert problem.message.startswith(
        f"invalid YAML: ',' or ']' expected here, in the list opened with '[' at line"
        f" {m.line_of(path, 'frequencies: [')}, column 20"
    )
    assert_good_cluster_survives(result)


def test_an_unclosed_quote_is_reported_where_it_opens(write, check, good):
    """name: "nightly without its closing quote: the line of the opening quote."""
    path = write("bad.yaml", m.schedule().replace("name: nightly", 'name: "nightly'))
    result = check()
    problem = m.only(result.problems, "yaml-syntax")
    assert problem.line == m.line_of(path, 'name: "nightly')
    assert problem.hint == 'add the closing "; documents before it in the file were read'
    assert_good_cluster_survives(result)


def test_a_key_without_a_colon_is_reported_on_its_line(write, check, good):
    """A line "namespace" without ':' is the line reported, not the one after it."""
    text = m.schedule().replace("  name: nightly\n", "  name: nightly\n  namespace\n")
    path = write("bad.yaml", text)
    result = check()
    problem = m.only(result.problems, "yaml-syntax")
    assert problem.line == m.line_of(path, "  namespace")
    assert problem.message.startswith("invalid YAML: no ':' after the text here")
    assert_good_cluster_survives(result)


def test_tab_indentation_is_named(write, check, good):
    """A tab used for indentation gets its own message and hint."""
    path = write("bad.yaml", "apiVersion: atlas.mongodb.com/v1\nspec:\n\titems: []\n")
    result = check()
    problem = m.only(result.problems, "yaml-tab")
    assert (problem.file, problem.line) == (str(path), 3)
    assert "spaces" in problem.hint
    assert_good_cluster_survives(result)


def test_duplicate_keys_are_an_error_naming_the_first(write, check, good):
    """A key written twice is reported at the second, naming the first line."""
    text = m.policy(name="dup").replace("spec:\n", "spec:\n  items: []\n", 1)
    path = write("bad.yaml", text)
    result = check()
    problem = m.only(result.problems, "duplicate-key")
    assert problem.line == m.line_of(path, "items:", 2)
    assert f"first defined at line {m.line_of(path, 'items:')}" in problem.message
    assert_good_cluster_survives(result)


def test_billion_laughs_is_stopped_by_the_alias_budget(write, check, good):
    """Nested aliases that would expand to 10^9 nodes stop at the budget, quickly."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 10):
        prev, cur = chr(ord("a") + n - 1), chr(ord("a") + n)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    write("bad.yaml", "\n".join(lines) + "\n")
    result = check()
    # a..c expand to 909 nodes; the first *c on line 4 takes the total past 1,000.
    assert m.only(result.problems, "yaml-alias-budget").line == 4
    assert_good_cluster_survives(result)


def test_small_aliases_and_merge_keys_are_fine(write, check):
    """Anchors, aliases and merge keys within the budget work like any YAML reader."""
    write(
        "all.yaml",
        m.docs(m.project(), m.policy(), m.deployment(flags="")),
    )
    write(
        "schedule.yaml",
        "apiVersion: atlas.mongodb.com/v1\nkind: AtlasBackupSchedule\n"
        "metadata: {name: nightly}\n"
        "spec:\n  <<: &times {referenceHourOfDay: 4, referenceMinuteOfHour: 15}\n"
        "  policy: {name: standard}\n",
    )
    result = check()
    assert result.problems == ()
    (cluster,) = result.state.clusters
    assert cluster.schedule is not None
    assert cluster.schedule.reference_hour_of_day == 4


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_nesting_thousands_deep_is_refused(write, check, good, opener):
    """Ten thousand levels of flow nesting stop at the depth limit, not in a hang or a crash."""
    path = write("bad.yaml", "spec: " + opener * 10_000 + "\n")
    result = check()
    problem = m.only(result.problems, "yaml-too-deep")
    assert (problem.file, problem.line) == (str(path), 1)
    assert_good_cluster_survives(result)


def test_deep_block_nesting_is_refused(write, check, good):
    """Deep indentation (block mappings) stops at the depth limit too."""
    write("bad.yaml", "".join("  " * n + f"k{n}:\n" for n in range(200)) + "  " * 200 + "v\n")
    result = check()
    assert m.only(result.problems, "yaml-too-deep").line == 65
    assert_good_cluster_survives(result)


def test_binary_file_is_refused_without_parsing(write, check, good, tmp_path):
    """NUL bytes mean a binary file: one problem, on the line of the first NUL."""
    (tmp_path / "blob.yaml").write_bytes(b"apiVersion: v1\nkind: x\n\x00\x01\x02\xff")
    result = check()
    problem = m.only(result.problems, "file-binary")
    assert (problem.file, problem.line) == (str(tmp_path / "blob.yaml"), 3)
    assert_good_cluster_survives(result)


def test_invalid_utf8_is_refused_with_its_line(write, check, good, tmp_path):
    """Latin-1 bytes are not UTF-8: one problem naming the line."""
    (tmp_path / "latin.yaml").write_bytes(b"a: 1\nname: caf\xe9\n")
    result = check()
    problem = m.only(result.problems, "file-encoding")
    assert problem.line == 2
    assert "0xe9" in problem.message
    assert_good_cluster_survives(result)


def test_control_characters_are_refused(write, check, good, tmp_path):
    """A raw control character inside the text is a YAML reader error at its position."""
    (tmp_path / "ctl.yaml").write_bytes(b"a: 1\nb: x\x07y\n")
    result = check()
    problem = m.only(result.problems, "yaml-bad-character")
    assert (problem.line, problem.column) == (2, 5)
    assert_good_cluster_survives(result)


def test_file_over_the_size_limit_is_not_read(write, check, good):
    """A file larger than the limit is refused before it is read."""
    path = write("huge.yaml", "# padding\n" * 2_000)
    result = check(options=manifest_files.LoadOptions(max_file_bytes=10_000))
    problem = m.only(result.problems, "file-too-large")
    assert problem.file == str(path)
    assert "20000 bytes, over the limit of 10000" in problem.message
    assert_good_cluster_survives(result)


@pytest.mark.parametrize(
    ("text", "shape"),
    [("just a string\n", "a plain value"), ("- a\n- b\n", "a list"), ("42\n", "a plain value")],
)
def test_top_level_scalars_and_lists_are_not_manifests(write, check, good, text, shape):
    """A document that is not a mapping is one clear problem."""
    write("bad.yaml", text)
    result = check()
    problem = m.only(result.problems, "not-a-manifest")
    assert shape in problem.message
    assert_good_cluster_survives(result)


def test_empty_and_comment_only_files_are_fine(write, check, good):
    """Empty files and files of comments hold no documents and no problems."""
    write("empty.yaml", "")
    write("comments.yml", "# nothing here yet\n---\n# still nothing\n")
    result = check()
    assert result.problems == ()
    assert_good_cluster_survives(result)


def test_unsupported_tags_are_errors(write, check, good):
    """A custom tag is not plain YAML; it is reported where it is written."""
    path = write(
        "bad.yaml",
        m.policy(name="tagged").replace("retentionValue: 2", "retentionValue: !secret 2"),
    )
    result = check()
    assert m.only(result.problems, "yaml-unsupported-tag").line == m.line_of(path, "!secret")
    assert_good_cluster_survives(result)


def test_gitopsdignore_excludes_paths(write, check, good):
    """Files matched by .gitopsdignore (gitignore syntax) are not read."""
    write(".gitopsdignore", "drafts/\n*.wip.yaml\n")
    write("drafts/broken.yaml", "kind: [\n")
    write("x.wip.yaml", "kind: [\n")
    write("sub/.gitopsdignore", "local.yaml\n")
    write("sub/local.yaml", "kind: [\n")
    result = check()
    assert result.problems == ()
    assert result.files == 1
    assert_good_cluster_survives(result)


def test_excluded_report_directory_is_not_read(write, check, good, tmp_path):
    """An excluded path (the report directory) is skipped."""
    write("drift-report/notes.yaml", "kind: [\n")
    options = manifest_files.LoadOptions(exclude=(str(tmp_path / "drift-report"),))
    result = check(options=options)
    assert result.problems == ()
    assert_good_cluster_survives(result)


VALID = m.docs(m.project(), m.policy(), m.schedule(), m.deployment()).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(VALID)),
    junk=st.binary(max_size=40)
    | st.text(alphabet=" \t\n:-[]{}&*!|>'\"#,?%@`\\aZé", max_size=40).map(str.encode),
)
def test_any_mangled_file_is_problems_never_a_traceback(cut, junk):
    """Bytes spliced into a valid file yield problems or a graph, never an exception."""
    data = VALID[:cut] + junk + VALID[cut:]
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "x.yaml").write_bytes(data)
        result = desired.load([directory])
    lines = data.count(b"\n") + 1
    for problem in result.problems:
        assert problem.file.endswith("x.yaml")
        assert 1 <= problem.line <= lines
        assert problem.column >= 1
    assert len(result.state.clusters) + len(result.state.blocked) <= 1
