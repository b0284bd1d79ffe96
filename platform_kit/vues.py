"""What every supplier-facing list shares: page parameters, the total in a header, and the CSV export of the same rows."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from fastapi import Response

#: Header carrying how many rows match the filters (the JSON body is the page only).
TOTAL = "X-Total-Count"


class Format(StrEnum):
    """Representation of a list: JSON (the page) or CSV (the page, same columns, for a spreadsheet)."""

    JSON = "json"
    CSV = "csv"


def _cellule(valeur: Any) -> str:
    if valeur is None:
        return ""
    if isinstance(valeur, bool):
        return "oui" if valeur else "non"
    if isinstance(valeur, (dict, list, tuple)):
        return json.dumps(valeur, ensure_ascii=False, default=str)
    return str(valeur)


def csv_de(lignes: Iterable[Mapping[str, Any]], colonnes: Sequence[str]) -> str:
    """Rows as CSV text (`;`-separated, the separator French spreadsheets expect), one header line first."""
    sortie = io.StringIO()
    ecrivain = csv.writer(sortie, delimiter=";", lineterminator="\r\n")
    ecrivain.writerow(colonnes)
    for ligne in lignes:
        ecrivain.writerow([_cellule(ligne.get(c)) for c in colonnes])
    return sortie.getvalue()


def reponse_csv(lignes: Iterable[Mapping[str, Any]], colonnes: Sequence[str], nom: str, total: int) -> Response:
    """A CSV download of the rows, with the total matching count in its header."""
    return Response(
        csv_de(lignes, colonnes).encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{nom}.csv"', TOTAL: str(total)},
    )


def paginer(lignes: Sequence[Any], limite: int, saut: int) -> list[Any]:
    """The page of an ordered list."""
    return list(lignes[saut : saut + limite])
