#!/usr/bin/env bash
# Makes sure the real PostgreSQL and Redis the suite uses are up on 127.0.0.1.
# Starts them with the machine's own commands when they are down; under CI=true a service
# that cannot be started is a hard failure, never a silent skip.
set -u
pg_up()    { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
fail=0
if ! pg_up; then
  echo "services: PostgreSQL is not answering on 127.0.0.1:5432, starting it" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql 2>/dev/null | head -n1)" main start 2>&1 || true
  for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  pg_up || { echo "services: PostgreSQL could not be started (needs 127.0.0.1:5432, user postgres, trust auth)" >&2; fail=1; }
fi
if ! redis_up; then
  echo "services: Redis is not answering on 127.0.0.1:6379, starting it" >&2
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log 2>&1 || true
  for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
  redis_up || { echo "services: Redis could not be started (needs 127.0.0.1:6379)" >&2; fail=1; }
fi
exit $fail
