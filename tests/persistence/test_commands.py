"""`ganggpt migrate`, `ganggpt backup` and `ganggpt restore`: a full round trip per backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from config import Config
from server.persistence.commands import CommandError, backup, restore, run_migrate
from server.persistence.service import PersistenceService


def test_run_migrate_is_idempotent(make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    assert run_migrate(cfg) == [1, 2, 3, 4]
    assert run_migrate(cfg) == []


@pytest.mark.parametrize("with_redis", [False, True], ids=["db", "db+redis"])
async def test_backup_restore_round_trip(
    backend_config: Config,
    with_redis: bool,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    cfg = backend_config
    if with_redis:
        cfg = cfg.model_copy(
            update={
                "redis_url": request.getfixturevalue("redis_url"),
                "redis_prefix": request.getfixturevalue("redis_prefix"),
            }
        )
    svc = PersistenceService(cfg)
    await svc.start()
    p = await svc.load_or_create_player("saved")
    await svc.change_money(p.player_id, 1234, "before backup")
    await svc.create_faction("grove", "Grove Street")
    await svc.set_faction(p.player_id, "grove")
    await svc.cache_ai_response("k1", {"t": "kept"}, ttl=300)
    await svc.close()

    manifest = await backup(cfg, str(tmp_path / "bk"))
    assert manifest["backend"] == ("postgres" if cfg.database_url else "sqlite")
    assert manifest["schema_version"] == 4
    assert (tmp_path / "bk" / manifest["files"]["database"]).stat().st_size > 0
    assert ("redis" in manifest["files"]) == with_redis
    with pytest.raises(CommandError, match="not empty"):
        await backup(cfg, str(tmp_path / "bk"))

    svc = PersistenceService(cfg)
    await svc.start()
    await svc.load_or_create_player("after-backup")
    await svc.change_money(p.player_id, -1000, "after backup")
    await svc.cache_ai_response("k2", "gone after restore")
    await svc.close()

    restored = await restore(cfg, str(tmp_path / "bk"))
    assert restored["database"] is True

    svc = PersistenceService(cfg)
    await svc.start()
    assert (await svc.storage.player_by_name("after-backup")) is None
    back = await svc.load_or_create_player("saved")
    assert back.player_id == p.player_id and back.money == 1234
    m = await svc.membership(p.player_id)
    assert m is not None and m.faction == "grove"
    if with_redis:
        svc.cache.l1.clear()
        assert await svc.cached_ai_response("k1") == {"t": "kept"}
        assert await svc.cached_ai_response("k2") is None
        r = aioredis.from_url(cfg.redis_url or "")
        try:
            ttl = await r.ttl(f"{cfg.redis_prefix}ai:response:k1")
            assert 0 < ttl <= 300  # TTLs come back too
        finally:
            await r.aclose()
    await svc.close()


async def test_restore_refuses_a_backup_of_the_other_backend(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    (tmp_path / "bk").mkdir()
    (tmp_path / "bk" / "manifest.json").write_bytes(
        orjson.dumps({"format": 1, "backend": "postgres", "files": {}})
    )
    with pytest.raises(CommandError, match="postgres"):
        await restore(make_config(), str(tmp_path / "bk"))
    with pytest.raises(CommandError, match="not a GangGPT backup"):
        await restore(make_config(), str(tmp_path / "nothing"))
