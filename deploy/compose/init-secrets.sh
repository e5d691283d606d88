#!/bin/sh
# Makes the secret files that deploy/compose.yaml mounts at /run/secrets/<name> (docs/deploy.md).
#
#   sh deploy/compose/init-secrets.sh [DIRECTORY]        (default: deploy/compose/secrets)
#
# Each missing file is made with fresh random values (openssl rand); a file that exists is kept, so the
# script can run again after an upgrade adds a secret. Values that must agree are made together: the
# PostgreSQL, Redis and RabbitMQ passwords and the URLs that carry them; the operator keys and the
# digests Seawall is configured with (SEAWALL_OPERATOR_KEYS holds digests only, never keys).
#
# The directory is private to you (0700); the files in it are 0644 because Compose mounts a secret file
# as it is on the host, and each service reads it as its own user (Seawall as uid 10001, PostgreSQL
# and RabbitMQ as 999).
#
# STRIPE_API_KEY: your Stripe secret key, if you point SEAWALL_STRIPE_API_BASE at Stripe. Unset, the
# file holds the sandbox's placeholder key `sk_test_seawall_sandbox` (not a secret: the sandbox accepts
# any `sk_` key), which is what the stack's default provider, the sandbox, needs.
set -eu

dir=${1:-"$(dirname "$0")/secrets"}
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

random_hex() { openssl rand -hex 32; }
sha256_hex() { printf '%s' "$1" | openssl dgst -sha256 -r | cut -d ' ' -f 1; }

# put NAME VALUE: write VALUE (and a newline) to NAME unless NAME exists.
put() {
    if [ -e "$dir/$1" ]; then
        echo "kept    $dir/$1"
        return
    fi
    printf '%s\n' "$2" > "$dir/$1.new"
    chmod 644 "$dir/$1.new"
    mv "$dir/$1.new" "$dir/$1"
    echo "created $dir/$1"
}

# value NAME: the content of NAME without its trailing newline.
value() { cat "$dir/$1"; }

put postgres_password "$(random_hex)"
put database_url "postgresql+asyncpg://seawall:$(value postgres_password)@postgres:5432/seawall"

put redis_password "$(random_hex)"
put redis_url "redis://:$(value redis_password)@redis:6379/0"

put rabbitmq.conf "# RabbitMQ's user for Seawall (made by init-secrets.sh; broker_url carries the same password)
default_user = seawall
default_pass = $(random_hex)
default_vhost = seawall
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*"
rabbitmq_password=$(sed -n 's/^default_pass = //p' "$dir/rabbitmq.conf")
put broker_url "amqp://seawall:${rabbitmq_password}@rabbitmq:5672/seawall"

put secret_key "$(random_hex)"

# Operator keys: `prometheus` (scope metrics: Prometheus scrapes each API's /metrics with it) and
# `operator` (scope operate: yours, for /admin and `curl -H "Authorization: Bearer $(cat ...)"`).
put prometheus_metrics_key "swop_$(random_hex)"
put operator_key "swop_$(random_hex)"
put operator_keys "# name:scope:sha256 of the key (made by init-secrets.sh from prometheus_metrics_key and operator_key)
prometheus:metrics:$(sha256_hex "$(value prometheus_metrics_key)")
operator:operate:$(sha256_hex "$(value operator_key)")"

put stripe_api_key "${STRIPE_API_KEY:-sk_test_seawall_sandbox}"
put grafana_admin_password "$(random_hex)"
