"""The GRD's reference data — suppliers, independent REs, its team's address, technician zones — read from its file.

The data is configuration, not code: a TOML file (`config/reference-grd.toml`, the demo GRD's, ships with the
platform; `GRD_REFERENCE_FILE` names another), validated when first read and kept for the life of the process (a
changed file is read at the next start). An invalid file raises `ReferenceDataError`, an English message naming the
file and every wrong entry, so the service does not start. `python -m platform_kit.reference check [FILE]` checks one.
The wire vocabulary the demands carry (services, motifs, sous-types...) is the same for every GRD: `contracts.listes`.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topics import CODE_FOURNISSEUR_MOTIF

#: The file shipped with the platform (the demo GRD's reference data), used when GRD_REFERENCE_FILE is not set.
FICHIER_LIVRE = Path(__file__).resolve().parent.parent / "config" / "reference-grd.toml"
VARIABLE = "GRD_REFERENCE_FILE"
#: The two RE segments: « C1 » serves customers above 36 kVA (C1 to C4), « C2 » those up to 36 kVA (C5).
SEGMENTS_RE = ("C1", "C2")


def _motif(motif: str, attendu: str) -> Callable[[str], str]:
    def verifier(value: str) -> str:
        if not re.fullmatch(motif, value):
            raise ValueError(f"{value!r} is not {attendu}")
        return value

    return verifier


def _segment(segments: tuple[str, ...]) -> Callable[[str], str]:
    def verifier(value: str) -> str:
        if not value.endswith(segments):
            raise ValueError(f"{value!r} must end in {' or '.join(segments)}, its segment (the contrats check a demand's RE by its suffix)")
        return value

    return verifier


Email = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_motif(r"[^@\s<>]{1,64}@[^@\s<>]+\.[^@\s<>]+", "an e-mail address"))]
CodeFournisseur = Annotated[str, AfterValidator(_motif(CODE_FOURNISSEUR_MOTIF, "a supplier code (A-Z, 0-9 and _, 2 to 32, a letter first)"))]
CodeRe = Annotated[str, AfterValidator(_motif(r"[A-Z0-9_]{3,40}", "an RE code (A-Z, 0-9 and _, 3 to 40)"))]
ReC1 = Annotated[CodeRe, AfterValidator(_segment(("C1",)))]
ReC2 = Annotated[CodeRe, AfterValidator(_segment(("C2",)))]
ReIndependant = Annotated[CodeRe, AfterValidator(_segment(SEGMENTS_RE))]


def _uniques(valeurs: tuple[str, ...], quoi: str) -> tuple[str, ...]:
    doubles = sorted({v for v in valeurs if valeurs.count(v) > 1})
    if doubles:
        raise ValueError(f"{quoi} {', '.join(doubles)} given more than once")
    return valeurs


class ReferenceDataError(ValueError):
    """The GRD's reference data file is missing, unreadable or invalid: the service must not start."""


class ReferenceSettings(BaseSettings):
    """Where the GRD's reference data file is (GRD_REFERENCE_FILE)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    fichier: Path = Field(
        default=FICHIER_LIVRE,
        validation_alias=VARIABLE,
        description="TOML file of the GRD's reference data (suppliers, independent REs, team address, zones); default: the demo GRD's.",
    )

    @field_validator("fichier", mode="before")
    @classmethod
    def _vide_vaut_defaut(cls, value: object) -> object:
        return FICHIER_LIVRE if isinstance(value, str) and not value.strip() else value


class _Modele(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Fournisseur(_Modele):
    """A supplier known to the GRD: its code, name, e-mail address and default responsables d'équilibre."""

    code: CodeFournisseur = Field(description="Supplier code; names its Kafka principal, topics and HTTP account.")
    nom: str = Field(min_length=1, max_length=120, description="Name shown in e-mails and lists.")
    email: Email = Field(description="Address the supplier's e-mails are sent to.")
    re_c1: ReC1 = Field(description="Default RE for its customers above 36 kVA (ends in C1).")
    re_c2: ReC2 = Field(description="Default RE for its customers up to 36 kVA (ends in C2).")


class Reference(_Modele):
    """The GRD's reference data: what differs from one GRD to another, read from its configuration file."""

    grd_email: Email = Field(description="Address of the GRD's acheminement team (demands without PDS, express demands).")
    zones: tuple[Annotated[str, StringConstraints(min_length=1, max_length=40)], ...] = Field(
        min_length=1, description="Technician zones, in display order."
    )
    re_independants: tuple[ReIndependant, ...] = Field(default=(), description="REs usable by any supplier; the suffix (C1/C2) is their segment.")
    fournisseurs: tuple[Fournisseur, ...] = Field(default=(), description="The suppliers known to the GRD.")

    @field_validator("zones")
    @classmethod
    def _zones_uniques(cls, zones: tuple[str, ...]) -> tuple[str, ...]:
        return _uniques(zones, "zone")

    @field_validator("fournisseurs")
    @classmethod
    def _codes_uniques(cls, fournisseurs: tuple[Fournisseur, ...]) -> tuple[Fournisseur, ...]:
        _uniques(tuple(f.code for f in fournisseurs), "supplier code")
        return fournisseurs

    def fournisseur(self, code: str) -> Fournisseur | None:
        """The supplier of this code, or None when the GRD does not know it."""
        return next((f for f in self.fournisseurs if f.code == code), None)

    def tous_les_re(self) -> tuple[str, ...]:
        """Every RE code known to the GRD: the suppliers' (C1 then C2 of each), then the independent ones; no repeats."""
        return tuple(dict.fromkeys([*(r for f in self.fournisseurs for r in (f.re_c1, f.re_c2)), *self.re_independants]))

    def res_par_segment(self) -> dict[str, tuple[str, ...]]:
        """RE codes by segment suffix: « C1 » for customers above 36 kVA (C1 to C4), « C2 » for C5 (up to 36 kVA)."""
        res = self.tous_les_re()
        return {segment: tuple(r for r in res if r.endswith(segment)) for segment in SEGMENTS_RE}

    def re_par_defaut(self) -> dict[str, tuple[str, str]]:
        """Each supplier's default REs: code → (RE C1, RE C2)."""
        return {f.code: (f.re_c1, f.re_c2) for f in self.fournisseurs}


def _emplacement(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(whole file)"


def _erreurs(exc: ValidationError) -> str:
    lignes = []
    for err in exc.errors():
        where = _emplacement(err["loc"])
        given = "" if err["type"] in ("missing", "value_error") or isinstance(err.get("input"), dict) else f" (given: {err.get('input')!r})"
        lignes.append(f"  - {where}: {err['msg'].removeprefix('Value error, ')}{given}")
    return "\n".join(lignes)


def load_reference(path: Path, origine: str = "") -> Reference:
    """Read and validate a reference data file (not cached); `origine` says where its path came from, for the error."""
    quel = f"GRD reference data file {path}{f' ({origine})' if origine else ''}"
    try:
        with path.open("rb") as fichier:
            data = tomllib.load(fichier)
    except FileNotFoundError:
        raise ReferenceDataError(f"{quel}: not found. Set {VARIABLE} to the GRD's file (format: docs/deployment.md).") from None
    except OSError as exc:
        raise ReferenceDataError(f"{quel}: cannot be read ({exc.strerror or exc}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise ReferenceDataError(f"{quel}: not valid TOML: {exc}.") from None
    try:
        return Reference.model_validate(data)
    except ValidationError as exc:
        raise ReferenceDataError(f"{quel} is invalid:\n{_erreurs(exc)}") from None


def reference_file() -> Path:
    """The file to read: GRD_REFERENCE_FILE when set (and not empty), else the one shipped with the platform."""
    return ReferenceSettings().fichier


@functools.cache
def _charger_une_fois(path: Path, origine: str) -> Reference:
    return load_reference(path, origine)


def reference(path: Path | None = None) -> Reference:
    """The GRD's reference data, from `path`, else GRD_REFERENCE_FILE, else the shipped file; read once per file."""
    if path is not None:
        return _charger_une_fois(path.resolve(), "")
    path = reference_file()
    return _charger_une_fois(path.resolve(), f"from {VARIABLE}" if path != FICHIER_LIVRE else f"the shipped default; {VARIABLE} names another")


def main(argv: list[str] | None = None) -> int:
    """`check [FILE]`: validate a reference data file and summarise it; 1 with every error when it is invalid."""
    parser = argparse.ArgumentParser(prog="python -m platform_kit.reference", description="Check the GRD's reference data file.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate a file and summarise it")
    check.add_argument("fichier", nargs="?", type=Path, help=f"file to check (default: {VARIABLE}, else the shipped file)")
    args = parser.parse_args(argv)
    path: Path = args.fichier or reference_file()
    try:
        ref = load_reference(path)
    except ReferenceDataError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"{path}: valid — {len(ref.fournisseurs)} suppliers ({', '.join(f.code for f in ref.fournisseurs)}), "
        f"{len(ref.tous_les_re())} REs, {len(ref.zones)} zones, GRD team {ref.grd_email}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
