"""The integrators' client of the GRD platform: validate demand files offline, send them and wait for their outcomes, follow flux.

Installed with `contracts` only (no platform code): `grd valider|envoyer|suivre`, or from Python::

    from grd_client import Profil, lire_fichier, envoyer
"""

from grd_client.client import Resultat, envoyer, suivre
from grd_client.fichier import Ligne, lire_fichier
from grd_client.profil import Profil, charger_profil

__all__ = ["Ligne", "Profil", "Resultat", "charger_profil", "envoyer", "lire_fichier", "suivre"]
