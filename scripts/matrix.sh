#!/usr/bin/env bash
# The JAX/Flax matrix in one command, ending with docs/compatibility.md.
#
#   scripts/matrix.sh          every line: the suite's own tests, then check --profile ci  (tox label matrix)
#   scripts/matrix.sh check    every line: only check --profile ci                         (tox label matrix-check)
#   scripts/matrix.sh ends     the oldest and the newest line, tests + check               (tox label matrix-ends)
#   scripts/matrix.sh MODE -- ARGS   ARGS go to tox as posargs: to pytest in tests + check envs,
#                                    to the check (replacing --profile ci) in check-only envs
#
# Environment: MATRIX_JOBS (tox -p, default 2), MATRIX_NOTE (a note at the top of the
# page), MATRIX_OUT (default docs/compatibility.md). Needs tox and tox-uv
# (pip install 'tox>=4' 'tox-uv>=1'). Everything it measured stays in .conformance/matrix/:
# one check report per line, tox's result file (install errors, own-test results,
# timings) and tox's log. Exit status: tox's (non-zero if any line failed anything);
# the page is written either way.
set -uo pipefail
cd "$(dirname "$0")/.."

case "${1:-all}" in
    all) label=matrix ;;
    check) label=matrix-check ;;
    ends) label=matrix-ends ;;
    *) echo "usage: $0 [all|check|ends] [-- ARGS]" >&2; exit 2 ;;
esac
shift $(($# > 0 ? 1 : 0))
[[ "${1:-}" == "--" ]] && shift
posargs=()
(($# > 0)) && posargs=(-- "$@")

out=.conformance/matrix
mkdir -p "$out"
rm -f "$out"/*.json "$out"/tox.log   # no stale report may stand for a line that did not run this time

start=$(date +%s)
tox run-parallel -m "$label" -p "${MATRIX_JOBS:-2}" --parallel-no-spinner \
    --result-json "$out/tox-result.json" "${posargs[@]}" 2>&1 | tee "$out/tox.log"
status=${PIPESTATUS[0]}
echo "matrix: tox -m $label finished with exit $status after $(($(date +%s) - start)) s" >&2

if [[ ! -s "$out/tox-result.json" ]]; then
    # tox itself failed before it ran an env: keep that as a stub so the page says so
    "${PYTHON:-python3}" - "$out/tox-failure.json" "$out/tox.log" <<'EOF'
import json, sys
log = open(sys.argv[2], errors="replace").read().strip().splitlines()[-15:]
json.dump({"schema": "nnx-conformance/matrix-line/1", "env": "tox", "jax": "?", "flax": "?",
           "stage": "install", "error": "\n".join(log)}, open(sys.argv[1], "w"), indent=2)
EOF
fi

"${PYTHON:-python3}" -m conformance.tools.compat_table "$out" --out "${MATRIX_OUT:-docs/compatibility.md}" \
    ${MATRIX_NOTE:+--note "$MATRIX_NOTE"} || { [[ $status -eq 0 ]] && status=1; }
exit "$status"
