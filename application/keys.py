"""Signing keys shared by every instance through the database: the first key of
a fresh install, rotation (`latchkey keys rotate`) and the listing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from application.ports import (
    AuditLog,
    Clock,
    NewSigningKey,
    SigningKeyFactory,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.errors import SigningKeyConflict
from domain.signing_key import SigningKeyRecord, next_generation, signing_key


@dataclass(frozen=True)
class KeyView:
    kid: str
    alg: str
    created_at: datetime
    retired_at: datetime | None
    published_until: datetime | None  # when it leaves the JWKS; None while active
    status: str  # active (signs), retired (still in the JWKS) or dropped (no longer)


class SigningKeys:
    """`retention` is how long a retired key stays published (domain/signing_key.py)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        factory: SigningKeyFactory,
        clock: Clock,
        audit: AuditLog,
        retention: timedelta,
    ) -> None:
        self._uow = uow
        self._factory = factory
        self._clock = clock
        self._audit = audit
        self._retention = retention

    def ensure(self) -> None:
        """Make the active key one of the configured algorithm: the first key of
        a fresh install, a rotation after `LATCHKEY_SIGNING_ALG` changed (the old
        key stays published for its tokens); else do nothing.

        Safe when several workers or instances start at once: they all try the
        same next generation, the unique constraint lets one insert win, and
        the others then read that key. Instances configured with different
        algorithms would rotate at each other's starts: configure them alike.
        """
        now = self._clock.now()
        with self._uow() as uow:
            records = uow.signing_keys.list_all()
            active = signing_key(records)
            if active is not None and active.alg == self._factory.alg:
                return
            if active is None:
                new = self._factory.initial() if not records else self._factory.generate()
                record = _record(new, next_generation(records), now)
                if not uow.signing_keys.add(record):
                    return  # another worker created it at this moment: theirs is used
            else:
                rotated = self._rotated(uow, records, self._factory.generate(), now)
                if rotated is None:
                    return  # another instance rotated at this moment: theirs is used
                record = rotated
            uow.commit()
        if active is None:
            self._audit.event("signing_key_created", kid=record.kid)
        else:
            self._audit.event(
                "signing_key_rotated", kid=record.kid, reason="the configured algorithm changed"
            )

    def rotate(self) -> KeyView:
        """Add a new active key and retire the others; forget keys no longer published.

        Retired keys stay in the JWKS for `retention`, so tokens they signed
        keep verifying until they expire.
        """
        now = self._clock.now()
        new = self._factory.generate()  # outside the transaction: an RSA key takes a while
        with self._uow() as uow:
            record = self._rotated(uow, uow.signing_keys.list_all(), new, now)
            if record is None:
                raise SigningKeyConflict("the signing keys changed meanwhile; rotate again")
            uow.commit()
        self._audit.event("signing_key_rotated", kid=record.kid)
        return self._view(record, now)

    def _rotated(
        self,
        uow: UnitOfWork,
        records: Sequence[SigningKeyRecord],
        new: NewSigningKey,
        now: datetime,
    ) -> SigningKeyRecord | None:
        """`new` made the active key, the others retired, the unpublished ones
        forgotten; None when another rotation took its generation first."""
        record = _record(new, next_generation(records), now)
        if not uow.signing_keys.add(record):
            return None
        uow.signing_keys.retire_older(record.generation, now)
        for old in records:
            if not old.is_published(now, self._retention):
                uow.signing_keys.delete(old.kid)
        return record

    def reseal(self) -> int:
        """Seal every stored key again under the current key-encryption key (the
        step after changing it, while the other one still opens them); how many.

        One transaction: either every key moves to the new key-encryption key or none.
        """
        with self._uow() as uow:
            records = uow.signing_keys.list_all()
            for record in records:
                uow.signing_keys.set_sealed(record.kid, self._factory.resealed(record))
            uow.commit()
        self._audit.event("signing_keys_resealed", count=len(records))
        return len(records)

    def list(self) -> list[KeyView]:
        """Every stored key, newest first."""
        now = self._clock.now()
        with self._uow() as uow:
            records = uow.signing_keys.list_all()
        return [self._view(r, now) for r in sorted(records, key=lambda r: -r.generation)]

    def _view(self, record: SigningKeyRecord, now: datetime) -> KeyView:
        if record.is_active:
            status = "active"
        elif record.is_published(now, self._retention):
            status = "retired"
        else:
            status = "dropped"
        return KeyView(
            kid=record.kid,
            alg=record.alg,
            created_at=record.created_at,
            retired_at=record.retired_at,
            published_until=record.published_until(self._retention),
            status=status,
        )


def _record(new: NewSigningKey, generation: int, now: datetime) -> SigningKeyRecord:
    return SigningKeyRecord(
        kid=new.kid,
        alg=new.alg,
        generation=generation,
        sealed_private_key=new.sealed_private_key,
        created_at=now,
    )
