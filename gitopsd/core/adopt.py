"""Adopting drift: the manifest edits that make Git say what Atlas now holds (observe mode).

Where a drifted cluster's values live in manifests that serve only that cluster (its
deployment, a schedule no other deployment uses, a policy no other schedule uses), editing them
to Atlas's values accepts the drift without changing any other cluster. ``compute`` returns, per
drifted cluster, either those edits or the reason they cannot be made. Pure: the shell applies
the edits to the files with round-trip YAML and commits them on the report branch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gitopsd.core.model import ClusterKey, ResourceId

EditValue = bool | int | str | None | list["EditValue"] | dict[str, "EditValue"]
"""A JSON-shaped value to write into a manifest."""


class EditOp(enum.StrEnum):
    """What an edit does at its path."""

    SET = "set"
    DELETE = "delete"


@dataclass(frozen=True, slots=True, kw_only=True)
class Edit:
    """One change to one manifest document.

    ``file`` is the manifest's path relative to the repository root (as in ``Span.file``);
    ``resource`` names the document within the file; ``path`` leads from the document's root
    (``("spec", "restoreWindowDays")``); ``pointer`` is the field change it adopts.
    """

    file: str
    resource: ResourceId
    path: tuple[str | int, ...]
    op: EditOp
    value: EditValue = None
    pointer: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Adoption:
    """Whether a drifted cluster's drift can be adopted, and how.

    ``edits`` is empty and ``reason`` says why when it cannot be adopted.
    """

    cluster: ClusterKey
    edits: tuple[Edit, ...] = ()
    reason: str = ""

    @property
    def adoptable(self) -> bool:
        """Whether merging the report branch would accept this drift."""
        return bool(self.edits) and not self.reason
