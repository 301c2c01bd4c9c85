"""The advice "how to resolve": one plain sentence or two per cluster of a drift report.

Owns the advice a reviewer reads under each cluster, chosen from the cluster's status, whether
the cause is drift (Atlas changed out of band), its mode, whether this cycle wrote anything,
and, for drift in observe mode, whether the drift can be adopted by merging the report's
manifest edits. Plain text (the renderers escape it); pure.
"""

from __future__ import annotations

from gitopsd.core.model import Mode
from gitopsd.core.plan import ALLOW_DESTRUCTIVE, Failure
from gitopsd.core.report_model import ClusterEntry, Origin, ReportStatus

_ALLOW = (
    f'annotate the deployment with {ALLOW_DESTRUCTIVE}: "true"'
    " (or set [reconcile] allow_destructive = true)"
)
_NOT_BACK_YET = (
    "gitopsd sent Git's values, but Atlas does not read them back yet; it checks again on"
    " the next cycle."
)
_UNKNOWN = (
    "gitopsd has not seen this cluster match Git before, so it cannot tell whether Git or"
    " Atlas changed."
)
_ROLES = (
    "Give the credentials the Atlas roles the change needs: Project Backup Manager for the"
    " schedule, Project Cluster Manager for the backup flags."
)


def resolution(cluster: ClusterEntry, *, applied: bool, dry_run: bool) -> str:
    """What to do about ``cluster``; ``applied`` and ``dry_run`` describe the cycle."""
    wrote = applied and not dry_run
    if cluster.status is ReportStatus.IN_SYNC:
        return "Nothing to do: Atlas matches Git."
    if cluster.resolved:
        if cluster.drift:
            return (
                "Nothing to do: gitopsd restored Git's values and Atlas reads them back. If the"
                " change in Atlas was wanted, put it in the manifests, or gitopsd undoes it again."
            )
        return "Nothing to do: gitopsd applied Git's values and Atlas reads them back."
    if cluster.status is ReportStatus.ERROR:
        return _error(cluster.failures)
    if cluster.status is ReportStatus.UNKNOWN:
        return (
            "gitopsd sent Git's values, and could not learn whether Atlas applied them: Atlas's"
            " answer was lost, and reading the cluster back failed. The next cycle reads it back"
            " and reports what it finds; nothing to do unless Atlas stays unreachable."
        )
    if cluster.status is ReportStatus.BLOCKED:
        return _blocked(cluster)
    if cluster.status is ReportStatus.SKIPPED:
        reason = next((a.reason for a in cluster.actions if a.outcome == "skipped"), "")
        waiting = f": {_sentence(reason)}" if reason else "."
        return f"gitopsd tries again on every cycle{waiting}"
    if cluster.drift:
        return _drifted(cluster, wrote=wrote)
    return _pending(cluster, wrote=wrote)


def _blocked(cluster: ClusterEntry) -> str:
    if cluster.drift:
        return (
            "Atlas was changed out of band, and restoring Git's values would remove or"
            " shorten protection, so gitopsd holds them back. To keep Atlas's values, put"
            f" them in the manifests; to restore Git's values, {_ALLOW}."
        )
    if cluster.origin is Origin.GIT:
        return (
            "The manifests changed since gitopsd last saw Atlas match them, and applying them"
            " would remove or shorten protection, so gitopsd holds the change back. If it is"
            f" intended, {_ALLOW}; otherwise revert the manifest change."
        )
    return (
        f"Applying Git's values would remove or shorten protection Atlas has, so gitopsd holds"
        f" them back. {_UNKNOWN} To keep Atlas's values, put them in the manifests; to apply"
        f" Git's values, {_ALLOW}."
    )


def _drifted(cluster: ClusterEntry, *, wrote: bool) -> str:
    if cluster.mode is Mode.OBSERVE:
        adoption = cluster.adoption
        if adoption is not None and adoption.adoptable:
            return (
                "Merge this pull request to accept Atlas's values (it makes the manifest edits"
                " listed here), or revert the change in Atlas."
            )
        if adoption is not None:
            return (
                "To accept Atlas's values, edit the manifests by hand (gitopsd cannot:"
                f" {_sentence(adoption.reason)}); otherwise revert the change in Atlas."
            )
        return (
            "To accept Atlas's values, edit the manifests to match them; otherwise revert the"
            " change in Atlas. Observe mode never writes to Atlas."
        )
    if wrote:
        return _NOT_BACK_YET
    return (
        "gitopsd restores Git's values when it next applies. To keep Atlas's values instead,"
        " put them in the manifests before then."
    )


def _pending(cluster: ClusterEntry, *, wrote: bool) -> str:
    known = cluster.origin is Origin.GIT
    if cluster.mode is Mode.OBSERVE:
        if known:
            return (
                "Observe mode never writes to Atlas: make the change in Atlas by hand, set"
                ' gitopsd.io/mode: "enforce" on the deployment, or revert the manifest change.'
            )
        return (
            f"Observe mode never writes to Atlas. {_UNKNOWN} To keep Atlas's values, put them"
            " in the manifests; to have Git's, make the change in Atlas by hand or set"
            ' gitopsd.io/mode: "enforce" on the deployment.'
        )
    if wrote:
        return _NOT_BACK_YET
    then = "gitopsd applies Git's values when it next applies (gitopsd apply, or the next cycle)."
    if known:
        return then
    return f"{then} {_UNKNOWN} To keep Atlas's values instead, put them in the manifests first."


def _error(failures: tuple[Failure, ...]) -> str:
    if not failures:
        return "gitopsd could not reconcile this cluster; it tries again on the next cycle."
    failure = failures[0]
    if failure.detail is None and failure.status is None:
        return _own(failure)
    said = " ".join(
        part
        for part in (
            "Atlas answered",
            f"HTTP {failure.status}" if failure.status is not None else "",
            failure.error_code or "",
        )
        if part
    )
    detail = f": {_sentence(failure.detail)}." if failure.detail else "."
    return f"{said}{detail} {_what_to_do(failure)}"


def _own(failure: Failure) -> str:
    """Advice for what gitopsd itself found wrong (no Atlas error behind it)."""
    if failure.error_code == "CLUSTER_NOT_FOUND":
        return (
            "Create the cluster in Atlas, or fix deploymentSpec.name in the deployment;"
            " gitopsd never creates clusters."
        )
    if failure.error_code == "TIER_WITHOUT_CLOUD_BACKUP":
        return (
            "Move the cluster to a tier with cloud backup (M10 or larger), or remove backupRef"
            " and the backup flags from the deployment."
        )
    return f"{_sentence(failure.message)}; gitopsd tries again on the next cycle."


def _what_to_do(failure: Failure) -> str:
    if failure.error_code == "RESOURCE_REQUIRES_ACCESS_LIST":
        return "Add the daemon's address to the organization's API access list."
    if failure.status == 401:
        return "Check the credentials of the deployment's profile (spec.connectionSecret.name)."
    if failure.status == 403:
        return _ROLES
    if failure.status is not None and (failure.status == 429 or failure.status >= 500):
        return "This is usually temporary: gitopsd tries again on the next cycle."
    if failure.status is not None and 400 <= failure.status < 500:
        return "Fix what Atlas names in the manifests; gitopsd tries again on the next cycle."
    return "Fix the cause; gitopsd tries again on the next cycle."


def _sentence(text: str) -> str:
    """``text`` on one line without its closing full stop, to sit inside a sentence."""
    return " ".join(text.split()).rstrip(".")
