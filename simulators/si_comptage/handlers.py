"""The simulator's only handler: answer a tele-operation command once."""

from __future__ import annotations

from contracts.evenements import TeleOperationDemandeeV1
from contracts.topics import SI_COMMANDES
from platform_kit.messaging import HandlerContext
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore
from simulators.si_comptage.domain import executer
from simulators.si_comptage.settings import Settings


class TeleOperations:
    """Tele-operations received, one aggregate per affaire (its inbox makes a redelivery a no-op)."""

    def __init__(self, rt: Runtime, store: AggregateStore, settings: Settings) -> None:
        self.rt = rt
        self.store = store
        self.settings = settings

    def register(self) -> None:
        """Create the consumer."""
        self.rt.consumer("teleoperations", SI_COMMANDES).handles(TeleOperationDemandeeV1)(self.teleoperation)

    async def teleoperation(self, ctx: HandlerContext, cmd: TeleOperationDemandeeV1) -> None:
        """Perform the tele-operation and publish its result."""
        loaded = await self.store.load(cmd.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        s = self.settings
        resultat = executer(cmd, s.pds_en_echec, s.echec_modulo, s.kwh_par_jour)
        historique = [*loaded.state.get("resultats", []), resultat.model_dump(mode="json")]
        state = {"pds": cmd.pds, "resultats": historique[-20:]}
        await self.rt.commit(self.store, loaded, state, ctx, [ctx.emit(resultat)])
