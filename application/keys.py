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
from domain.errors import InvalidInput, SigningKeyConflict
from domain.signing_key import SigningKeyRecord, current_key, next_generation, signing_key


@dataclass(frozen=True)
class KeyView:
    kid: str
    alg: str
    created_at: datetime
    signs_from: datetime
    retired_at: datetime | None
    published_until: datetime | None  # when it leaves the JWKS; None while current
    status: str  # pending, active, retired or dropped (SigningKeyRecord.status)


class SigningKeys:
    """`publication` is how long a new key is published before it signs, and
    `retention` how long a retired key stays published (domain/signing_key.py)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        factory: SigningKeyFactory,
        clock: Clock,
        audit: AuditLog,
        retention: timedelta,
        publication: timedelta,
    ) -> None:
        self._uow = uow
        self._factory = factory
        self._clock = clock
        self._audit = audit
        self._retention = retention
        self._publication = publication

    def ensure(self) -> None:
        """Make the current key one of the configured algorithm: the first key
        of a fresh install, which signs at once (no verifier knows any key yet);
        a rotation at once after `LATCHKEY_SIGNING_ALG` changed, since a token's
        `alg` is the configured one (API.md; the old key stays published for its
        tokens); else do nothing. A key of the new algorithm rotated in ahead
        (`keys rotate` with the new setting) is the current one: nothing to do.

        Safe when several workers or instances start at once: they all try the
        same next generation, the unique constraint lets one insert win, and
        the others then read that key. Instances configured with different
        algorithms would rotate at each other's starts: configure them alike.
        """
        now = self._clock.now()
        with self._uow() as uow:
            records = uow.signing_keys.list_all()
            current = current_key(records)
            if current is not None and current.alg == self._factory.alg:
                return
            if current is None:
                new = self._factory.initial() if not records else self._factory.generate()
                record = _record(new, next_generation(records), now, signs_from=now)
                if not uow.signing_keys.add(record):
                    return  # another worker created it at this moment: theirs is used
            else:
                rotated = self._rotated(uow, records, self._factory.generate(), now, timedelta(0))
                if rotated is None:
                    return  # another instance rotated at this moment: theirs is used
                record = rotated
            uow.commit()
        if current is None:
            self._audit.event("signing_key_created", kid=record.kid)
        else:
            self._audit.event(
                "signing_key_rotated", kid=record.kid, reason="the configured algorithm changed"
            )

    def rotate(self, *, at_once: bool = False, drop_older: bool = False) -> KeyView:
        """Add a new key, published now, that signs after the publication delay
        (at once with `at_once`); the others retire then. Forget the keys no
        longer published.

        Retired keys stay in the JWKS for `retention`, so tokens they signed
        keep verifying until they expire. With `drop_older` (a key that leaked:
        tokens forged with it must stop verifying), every older key is deleted
        instead, and the tokens they signed stop verifying too.
        """
        if drop_older and not at_once:
            raise InvalidInput("dropping the older keys needs a new key that signs at once")
        new = self._factory.generate()  # outside the transaction: an RSA key takes a while
        now = self._clock.now()  # after it: the delay counts from just before the commit
        ahead = timedelta(0) if at_once else self._publication
        with self._uow() as uow:
            records = uow.signing_keys.list_all()
            record = self._rotated(uow, records, new, now, ahead)
            if record is None:
                raise SigningKeyConflict("the signing keys changed meanwhile; rotate again")
            if drop_older:
                for old in records:
                    uow.signing_keys.delete(old.kid)
            uow.commit()
        self._audit.event(
            "signing_key_rotated",
            kid=record.kid,
            signs_from=record.starts_signing.isoformat(),
            dropped=[old.kid for old in records] if drop_older else [],
        )
        return self._view(record, now)

    def _rotated(
        self,
        uow: UnitOfWork,
        records: Sequence[SigningKeyRecord],
        new: NewSigningKey,
        now: datetime,
        ahead: timedelta,
    ) -> SigningKeyRecord | None:
        """`new` made the current key, signing `ahead` from now, the others
        retired from then, the unpublished ones forgotten; None when another
        rotation took its generation first.

        When no key signs now (none was ever made), there is nothing to wait for.
        """
        signs_from = now + ahead if signing_key(records, now) is not None else now
        record = _record(new, next_generation(records), now, signs_from)
        if not uow.signing_keys.add(record):
            return None
        uow.signing_keys.retire_older(record.generation, signs_from)
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
        return KeyView(
            kid=record.kid,
            alg=record.alg,
            created_at=record.created_at,
            signs_from=record.starts_signing,
            retired_at=record.retired_at,
            published_until=record.published_until(self._retention),
            status=record.status(now, self._retention),
        )


def _record(
    new: NewSigningKey, generation: int, now: datetime, signs_from: datetime
) -> SigningKeyRecord:
    return SigningKeyRecord(
        kid=new.kid,
        alg=new.alg,
        generation=generation,
        sealed_private_key=new.sealed_private_key,
        created_at=now,
        signs_from=signs_from,
    )
