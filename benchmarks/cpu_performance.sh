#!/usr/bin/env bash
# The measurements behind the README's "Performance on CPU" section, one after another.
#
#   bash benchmarks/cpu_performance.sh --data PATH [--out DIR] [--only NAME,NAME...]
#
# Run it on an idle machine: every script prints its load check first and last. Each script's
# output goes to DIR/<name>.txt as it is printed (default runs/performance; the README's figures
# are in results/performance-cpu/), so an interrupted run keeps what it measured; --only reruns
# some of them (names: the DIR/<name>.txt files). All of it takes about 90 minutes on a machine
# whose two cores do 190 GFLOP/s of float32 matmul together.
set -euo pipefail

names="compile_time recipe recipe_explicit recipe_blocked recipe_fused_adamw recipe_bf16 dropout_cost mask_cost"
names+=" attention_memory"
names+=" peer_whole peer_regional"
names+=" quick_compile paper loss_equivalence"
data=""
out="runs/performance"
only=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --data) data="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --only) only="${2//,/ }"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown option '$1'; allowed: --data PATH, --out DIR, --only NAMES" >&2; exit 2 ;;
    esac
done
if [[ -z "$data" || ! -f "$data" ]]; then
    echo "--data must name the training text (tinyshakespeare), got '${data}'" >&2
    exit 2
fi
for name in $only; do
    if [[ " $names " != *" $name "* ]]; then
        echo "--only: unknown measurement '$name'; allowed: $names" >&2
        exit 2
    fi
done
here="$(cd "$(dirname "$0")" && pwd)"
export PYTHONPATH="$here/../src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out"

# Wait (at most 2 minutes) until machine_load.py says idle, so the load check a script prints
# first is not still counting the previous script.
wait_for_idle() {
    for _ in $(seq 24); do
        python3 "$here/machine_load.py" && return
        sleep 5
    done
    echo "the machine is still busy after 2 minutes; measuring anyway (see the load check)"
}

measure() {
    local name="$1"; shift
    if [[ -n "$only" && " $only " != *" $name "* ]]; then
        return
    fi
    wait_for_idle
    echo "== $name: $*"
    local start=$SECONDS
    python3 "$@" 2>&1 | tee "$out/$name.txt"
    echo "== $name took $((SECONDS - start)) s"
}

measure compile_time "$here/train_throughput.py" --shape cpu --compile-time-only --threads 2
measure recipe "$here/train_throughput.py" --no-compile-time --rounds 7
measure recipe_explicit "$here/train_throughput.py" --no-compile-time --rounds 7 --strategies whole \
    --attention explicit
measure recipe_blocked "$here/train_throughput.py" --no-compile-time --rounds 7 --strategies whole \
    --attention blocked
measure recipe_fused_adamw "$here/train_throughput.py" --no-compile-time --rounds 7 --strategies whole \
    --optimizer fused
measure recipe_bf16 "$here/train_throughput.py" --no-compile-time --rounds 7 --strategies whole \
    --dtype bfloat16
measure dropout_cost "$here/dropout_cost.py" --rounds 7
measure mask_cost "$here/mask_cost.py" --rounds 7
measure attention_memory "$here/attention_memory.py" --contexts 256,1024 --batch 4 --compiled
measure peer_whole "$here/peer_nanogpt.py" --data "$data" --shape recipe --rounds 7 --strategy whole
measure peer_regional "$here/peer_nanogpt.py" --data "$data" --shape recipe --rounds 7 --strategy regional
measure quick_compile "$here/quick_compile.py" --data "$data" --rounds 2
measure paper "$here/train_throughput.py" --shape paper --steps 3 --rounds 3 --no-compile-time \
    --strategies whole
measure loss_equivalence "$here/loss_equivalence.py" --data "$data" --seeds 5 --steps 300
