"""``Case``: one analysis result from the case store, its frames read on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from .errors import StoreError
from .frames import table_to_frame


@dataclass
class Case:
    """One analysis result: frames are read from the store on first use."""

    key: str
    entry_dir: Path
    manifest: dict
    _alerts: pd.DataFrame | None = field(default=None, repr=False)
    _flows: pd.DataFrame | None = field(default=None, repr=False)
    #: True when this result came from the store without running Suricata
    reused: bool = False

    @property
    def alerts(self) -> pd.DataFrame:
        if self._alerts is None:
            self._alerts = _read_frame(self.entry_dir / "alerts.parquet")
        return self._alerts

    @property
    def flows(self) -> pd.DataFrame:
        if self._flows is None:
            self._flows = _read_frame(self.entry_dir / "flows.parquet")
        return self._flows

    @property
    def warnings(self) -> list[str]:
        return list(self.manifest.get("warnings", []))

    @property
    def notices(self) -> list[str]:
        return list(self.manifest.get("notices", []))

    @property
    def capture(self) -> dict:
        return self.manifest["capture"]

    @property
    def home_net(self) -> str:
        return ", ".join(self.manifest["options"]["home_net"])

    @property
    def ruleset(self) -> dict:
        return self.manifest["ruleset"]

    def path(self, name: str) -> Path:
        """A raw file of the entry: 'eve.json', 'fast.log', 'suricata.log'."""
        return self.entry_dir / name


def _read_frame(path: Path) -> pd.DataFrame:
    try:
        return table_to_frame(pq.read_table(path))
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise StoreError(
            f"The store entry {path.parent.name} is damaged ({path.name} cannot be read); "
            f"analyse the capture again with --rerun."
        ) from exc
