#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 300) one after another and prints, per target,
# the executions, the final coverage and whether it crashed. Needs cargo-fuzz and a nightly
# toolchain: `cargo install cargo-fuzz`, `rustup toolchain install nightly`.
set -uo pipefail
cd "$(dirname "$0")"
seconds="${1:-300}"
all=(telegram_update whatsapp_notification twilio_inbound sms_gateway_inbound flow_loader region_matcher sms_segmenter)
read -r -a targets <<< "${TARGETS:-${all[*]}}"
mkdir -p logs
cargo +nightly fuzz build || exit 1
for target in "${targets[@]}"; do
    log="logs/$target.log"
    cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1
    status=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    corpus=$(ls "corpus/$target" | wc -l)
    printf '%-22s exit=%s executions=%s %s corpus=%s\n' "$target" "$status" "${execs:-?}" "${cov:-}" "$corpus"
done
