"""The simulator's only handler: execute a tele-operation on its meter, once, and answer (or not, when it is lost)."""

from __future__ import annotations

from contracts.evenements import TeleOperationDemandeeV1
from contracts.topics import SI_COMMANDES
from platform_kit.messaging import HandlerContext
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore
from simulators.si_comptage.domain import Compteur, Regles, executer


class TeleOperations:
    """Tele-operations received, one aggregate per meter (PDS): its state and the commands applied to it."""

    def __init__(self, rt: Runtime, store: AggregateStore, regles: Regles) -> None:
        self.rt = rt
        self.store = store
        self.regles = regles

    def register(self) -> None:
        """Create the consumer."""
        self.rt.consumer("teleoperations", SI_COMMANDES, inbox=False).handles(TeleOperationDemandeeV1)(self.teleoperation)

    async def teleoperation(self, ctx: HandlerContext, cmd: TeleOperationDemandeeV1) -> None:
        """Perform the tele-operation on the day it arrives and publish its result (a lost one publishes nothing)."""
        loaded = await self.store.load(cmd.pds)
        if loaded.applied(ctx.envelope.message_id):
            return
        compteur, resultat = executer(cmd, Compteur.from_doc(loaded.state), self.rt.clock.today(), self.regles)
        state = compteur.to_doc() if compteur is not None else dict(loaded.state)
        await self.rt.commit(self.store, loaded, state, ctx, [ctx.emit(resultat)] if resultat is not None else [])
