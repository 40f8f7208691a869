#!/usr/bin/env bash
# Call benchmark (issue 6): SIPp calls through Switchboard's proxy and
# through Kamailio, side by side in one run on the same machine, with the
# same SIPp scenarios and the same UDP receive buffer. Same structure and
# pitfalls as scripts/bench-register.sh (BENCHMARKING.md): SIPp
# -buff_size 4194304, equal server receive buffers, a warm-up at low rate,
# CPU read from /proc/PID/stat at the start and the end of a step.
#
#   call = INVITE -> (100) -> 180 -> 200 -> ACK -> (hold) -> BYE -> 200,
#   SIPp UAC (bench/calls-uac.xml) -> proxy -> SIPp UAS (bench/calls-uas.xml).
#   Switchboard: the UAS is registered as bob@example.test first
#   (bench/calls-register.mjs), the UAC calls sip:bob@example.test.
#   Kamailio: scripts/kamailio-proxy.cfg, record_route + t_relay to the UAS
#   ($du), 2 workers.
#
# usage: scripts/bench-calls.sh [options]
#   --smoke              a few seconds at low rate, Switchboard only (no
#                        Kamailio needed), no concurrency check; exit 0 when
#                        every call completed, 1 when not, 2 when something is missing
#   --servers LIST       sb,kam (default both)
#   --rates "R1 R2 ..."  calls/s of the steps (default 250 500 1000 1500 2000 2500 3000)
#   --hold S             seconds per step (default 12)
#   --call-ms MS         call duration (UAC pause between ACK and BYE) in the
#                        rate steps (default 100)
#   --warmup-rate R      warm-up rate (default 100/s) ...
#   --warmup-secs S      ... for S seconds (default 5)
#   --retries N          repeat a step that is not clean N times (default 1)
#   --concurrent N       concurrency check: N calls set up at --conc-rate and held
#                        --conc-ms each, the proxy's RSS read while they are all
#                        established (default 12000; 0 = skip)
#   --conc-rate R        default 1000 calls/s
#   --conc-ms MS         default 30000 (must exceed N / R seconds)
#   --conc-servers LIST  servers of the concurrency check (default: --servers)
#   --recv-buffer BYTES  UDP receive buffer asked by both servers (default 4194304)
#   --build              run `npm run build` first
#   --keep               keep the work directory (logs, SIPp statistics)
#   SB_DIST=DIR          environment: use this built tree instead of dist/
#
# "Clean" step = zero failed calls (UAC and UAS), SIPp retransmissions
# <= 0.1 % of the messages the UAC sent, completed rate within 3 % of the
# offered one, every call created. A server's figure is its highest clean
# step; its ladder stops at its first step that is not clean (after
# --retries repeats), with a diagnosis (SIPp error logs, server log, socket
# drops, CPU and run-queue wait).
#
# Needs root for the private network namespace (unshare --net, only `lo`,
# every server on 127.0.0.1): the script re-executes itself through
# scripts/in-netns.sh. Without root only --smoke runs (with a warning).
# Files: scripts/kamailio-proxy.cfg, scripts/bench/calls-* (SIPp scenarios,
# the REGISTER helper); it also uses bench/sipp-errors.awk and
# bench/server-log.awk of the REGISTER benchmark.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BENCH="$HERE/bench"
DIST="${SB_DIST:-$REPO/dist}"

SMOKE=0
SERVERS="sb,kam"
RATES="250 500 1000 1500 2000 2500 3000"
HOLD=12
CALL_MS=100
WARM_RATE=100
WARM_SECS=5
RETRIES=1
CONC=12000
CONC_RATE=1000
CONC_MS=30000
CONC_SERVERS=""
RECVBUF=4194304
# Kamailio shared memory (MiB): its transactions live there; 256 ran out at 2,000 calls/s
KAM_SHM=${KAM_SHM:-1024}
BUILD=0
KEEP=0
SB_PORT=5070
KAM_PORT=5090
DOMAIN=example.test
ARGS=("$@")

die() { echo "bench-calls: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --servers) SERVERS=$2; shift ;;
    --rates) RATES=$2; shift ;;
    --hold) HOLD=$2; shift ;;
    --call-ms) CALL_MS=$2; shift ;;
    --warmup-rate) WARM_RATE=$2; shift ;;
    --warmup-secs) WARM_SECS=$2; shift ;;
    --retries) RETRIES=$2; shift ;;
    --concurrent) CONC=$2; shift ;;
    --conc-rate) CONC_RATE=$2; shift ;;
    --conc-ms) CONC_MS=$2; shift ;;
    --conc-servers) CONC_SERVERS=$2; shift ;;
    --recv-buffer) RECVBUF=$2; shift ;;
    --build) BUILD=1 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
if [ "$SMOKE" = 1 ]; then
  SERVERS=sb; RATES="50"; HOLD=3; WARM_RATE=20; WARM_SECS=1; RETRIES=0; CONC=0
fi
[ -n "$CONC_SERVERS" ] || CONC_SERVERS=$SERVERS
for v in HOLD WARM_RATE WARM_SECS RECVBUF CONC_RATE CONC_MS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v} must be a positive integer"
done
[[ $CALL_MS =~ ^[0-9]+$ ]] && [ "$CALL_MS" -le 10000 ] || die "--call-ms must be 0..10000"
[[ $CONC =~ ^[0-9]+$ ]] && [ "$CONC" -le 50000 ] || die "--concurrent must be 0..50000"
[[ $RETRIES =~ ^[0-9]$ ]] || die "--retries must be 0..9"
for r in $RATES; do [[ $r =~ ^[1-9][0-9]*$ ]] && [ "$r" -le 20000 ] || die "bad rate $r (1..20000)"; done
[ "$(wc -w <<<"$RATES")" -le 16 ] || die "at most 16 rates"
[ "$HOLD" -le 60 ] && [ "$WARM_SECS" -le 60 ] || die "--hold and --warmup-secs are at most 60 s"
[ "$CONC_MS" -le 120000 ] || die "--conc-ms is at most 120000"
[ "$CONC" = 0 ] || [ $((CONC * 1000 / CONC_RATE + 3000)) -lt "$CONC_MS" ] || die "--conc-ms must exceed the set-up time (N / rate) by 3 s"

missing=0
need() { if ! command -v "$1" >/dev/null 2>&1; then echo "bench-calls: '$1' not found: $2" >&2; missing=1; fi; }
need node "install Node.js 20"
need sipp "install SIPp 3.6 (Debian/Ubuntu: apt-get install sip-tester)"
need ss "install iproute2"
need timeout "install coreutils"
if [[ ,$SERVERS,$CONC_SERVERS, == *,kam,* ]]; then
  need kamailio "install Kamailio 5.6 (Debian: apt-get install kamailio), or run with --servers sb"
fi
[ "$missing" = 0 ] || exit 2

if [ "${SB_IN_NETNS:-}" != 1 ]; then
  if [ "$BUILD" = 1 ]; then (cd "$REPO" && npm run build) || die "npm run build failed"; fi
  if [ "$(id -u)" != 0 ]; then
    [ "$SMOKE" = 1 ] || die "needs root for a private network namespace (unshare --net); only --smoke runs without it"
    echo "bench-calls: not root: smoke run WITHOUT a private network namespace (everything on 127.0.0.1)" >&2
    export SB_IN_NETNS=0
  else
    exec bash "$HERE/in-netns.sh" bash "$HERE/$(basename "$0")" "${ARGS[@]}"
  fi
fi
[ -f "$DIST/cli/main.js" ] || die "$DIST/cli/main.js not found: run npm run build (or pass --build)"
DIST=$(cd "$DIST" && pwd)

WORK=$(mktemp -d /tmp/sb-bench-calls.XXXXXX)
cd "$WORK"
declare -A MAIN=() PIDS=() PORT=() SIPP_PORT=() UAS_PORT=() NAME=() LOGF=()
PORT[sb]=$SB_PORT;  SIPP_PORT[sb]=5201; UAS_PORT[sb]=5301; NAME[sb]=Switchboard
PORT[kam]=$KAM_PORT; SIPP_PORT[kam]=5202; UAS_PORT[kam]=5302; NAME[kam]=Kamailio
UAS_PID=""
cleanup() {
  local s
  if [ -n "$UAS_PID" ] && kill -0 "$UAS_PID" 2>/dev/null; then kill -KILL "$UAS_PID" 2>/dev/null || true; fi
  for s in "${!MAIN[@]}"; do stop_server "$s" || true; done
  if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n 65536 2>/dev/null || true
CLK_TCK=$(getconf CLK_TCK)
NPROC=$(nproc)
STEP_NO=0
SUMMARY="$WORK/summary.tsv"
STEPS="$WORK/steps.tsv"
: >"$SUMMARY"
printf 'server\tkind\trate\tachieved\tcalls\tok\tfailed\tuas_failed\tretrans\tretrans_pct\tp50\tp99\tcpu_us_per_call\tserver_cpu_pct\tsipp_cpu_pct\tbox_cpu_pct\tserver_drops\tother_drops\tclean\tserver_runqueue_wait_pct\n' >"$STEPS"

# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"

start_server() { # $1 = sb|kam
  local s=$1
  LOGF[$s]="$WORK/$s.log"
  if [ "$s" = sb ]; then
    node "$DIST/cli/main.js" serve --udp "127.0.0.1:${PORT[sb]}" --domain "$DOMAIN" --db "$WORK/sb.db" \
      --auth off --udp-recv-buffer "$RECVBUF" --log-level warn >"${LOGF[sb]}" 2>&1 &
    MAIN[sb]=$!
    PIDS[sb]=${MAIN[sb]}
    wait_listening sb
    node "$BENCH/calls-register.mjs" --server "127.0.0.1:${PORT[sb]}" --contact-port "${UAS_PORT[sb]}" \
      --user bob --domain "$DOMAIN" | sed 's/^/   /' || { echo "bench-calls: could not register the UAS at Switchboard" >&2; return 1; }
  else
    mkdir -p "$WORK/kam-run"
    # -b: ceiling of Kamailio's receive-buffer auto-probing = the size Switchboard asks for
    kamailio -f "$REPO/scripts/kamailio-proxy.cfg" -DD -E -Y "$WORK/kam-run" -w "$WORK" \
      -l "udp:127.0.0.1:${PORT[kam]}" -n 2 -b "$RECVBUF" -m "$KAM_SHM" -M 16 \
      -A "UAS_URI=\"sip:127.0.0.1:${UAS_PORT[kam]}\"" >"${LOGF[kam]}" 2>&1 &
    MAIN[kam]=$!
    wait_listening kam
    sleep 0.5 # every child forked
    PIDS[kam]="${MAIN[kam]} $(children_of "${MAIN[kam]}" | tr '\n' ' ')"
  fi
  log "   ${NAME[$s]}: pids ${PIDS[$s]}; UDP 127.0.0.1:${PORT[$s]}, socket receive buffer (kernel, ss rb) $(rcvbuf_of "${PORT[$s]}") bytes; UAS 127.0.0.1:${UAS_PORT[$s]}"
}


# last line of a -trace_stat file -> R_CREATED R_OK R_FAILED R_RETRANS R_ELAPSED_US R_P50 R_P99 R_FAILS

# --- one step: the UAS in the background, then the UAC ------------------------

start_uas() { # $1 server $2 calls $3 tag $4 timeout s
  local s=$1 calls=$2 tag=$3 secs=$4 i
  timeout -k 5 $((secs + 10)) sipp -sf "$BENCH/calls-uas.xml" -i 127.0.0.1 -p "${UAS_PORT[$s]}" -t u1 \
    -buff_size 4194304 -m "$calls" -timeout "${secs}s" -timeout_error -nostdin \
    -trace_stat -stf "$WORK/$tag.uas.stat.csv" -fd 1 \
    -trace_err -error_file "$WORK/$tag.uas.errors.txt" -max_log_size 2000000 -ringbuffer_files 1 \
    >/dev/null 2>"$WORK/$tag.uas.sipp-stderr.txt" &
  UAS_PID=$!
  for i in $(seq 1 50); do
    udp_listening "${UAS_PORT[$s]}" && return 0
    kill -0 "$UAS_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench-calls: the SIPp UAS did not start; its stderr:" >&2; tail -5 "$WORK/$tag.uas.sipp-stderr.txt" >&2
  return 1
}

wait_uas() { # wait up to $1 s for the UAS to finish its calls, then stop it by PID
  local i
  for i in $(seq 1 $(( $1 * 10 ))); do kill -0 "$UAS_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$UAS_PID" 2>/dev/null; then kill -INT "$UAS_PID" 2>/dev/null || true; sleep 1; fi
  if kill -0 "$UAS_PID" 2>/dev/null; then kill -KILL "$UAS_PID" 2>/dev/null || true; fi
  wait "$UAS_PID" 2>/dev/null || true
  UAS_PID=""
}

# run_calls SERVER RATE CALLS CALL_MS TAG TIMEOUT_S -> R_* (UAC), U_FAILED, U_RETRANS (UAS)
run_uac() {
  local s=$1 rate=$2 calls=$3 ms=$4 tag=$5 secs=$6 limit=$7
  timeout -k 5 $((secs + 15)) sipp "127.0.0.1:${PORT[$s]}" -sf "$BENCH/calls-uac.xml" \
    -s bob -key domain "$DOMAIN" -i 127.0.0.1 -p "${SIPP_PORT[$s]}" -t u1 -buff_size 4194304 \
    -r "$rate" -rp 1000 -m "$calls" -l "$limit" -d "$ms" \
    -max_retrans 5 -timeout "${secs}s" -timeout_error \
    -nostdin -trace_stat -stf "$WORK/$tag.stat.csv" -fd 1 \
    -trace_screen -screen_file "$WORK/$tag.screen.txt" \
    -trace_err -error_file "$WORK/$tag.errors.txt" -max_log_size 2000000 -ringbuffer_files 1 \
    >/dev/null 2>"$WORK/$tag.sipp-stderr.txt" || true
}

uas_result() { # $1 tag -> U_FAILED U_RETRANS U_OK
  parse_stat "$WORK/$1.uas.stat.csv"
  U_FAILED=$R_FAILED U_RETRANS=$R_RETRANS U_OK=$R_OK U_FAILS=$R_FAILS
}

# step SERVER RATE SECONDS [warmup] -> STEP_CLEAN, S_*; a row in $STEPS
step() {
  local s=$1 rate=$2 secs=$3 warm=${4:-}
  STEP_NO=$((STEP_NO + 1))
  local tag="$s-$rate-$STEP_NO" port=${PORT[$s]} calls=$(( $2 * $3 ))
  local t0 t1 c0 c1 b0 b1 bt0 bt1 d0 d1 a0 a1 k0 k1 w0 w1
  local tmo=$((secs + CALL_MS / 1000 + 40))
  start_uas "$s" "$calls" "$tag" $((tmo + 5)) || { STEP_CLEAN=no; LAST_TAG=$tag; return 0; }
  read_drops "$port"; d0=$SOCK_DROPS; a0=$ALL_DROPS
  read_box; b0=$BOX_BUSY; bt0=$BOX_TOTAL
  read_children_cpu; k0=$CHILD_US
  read_wait ${PIDS[$s]}; w0=$WAITNS
  read_ticks ${PIDS[$s]}; c0=$TICKS
  now_us; t0=$NOW
  run_uac "$s" "$rate" "$calls" "$CALL_MS" "$tag" "$tmo" $((rate * 3 + rate * CALL_MS / 1000 + 100))
  wait_uas 5
  now_us; t1=$NOW
  read_ticks ${PIDS[$s]}; c1=$TICKS
  read_wait ${PIDS[$s]}; w1=$WAITNS
  read_children_cpu; k1=$CHILD_US
  read_box; b1=$BOX_BUSY; bt1=$BOX_TOTAL
  read_drops "$port"; d1=$SOCK_DROPS; a1=$ALL_DROPS
  uas_result "$tag"
  parse_stat "$WORK/$tag.stat.csv"

  local wall=$((t1 - t0))
  local cpu_us=$(( (c1 - c0) * 1000000 / CLK_TCK ))
  # completed rate: calls ok over SIPp's elapsed time less one call duration (the
  # last call started ends CALL_MS later)
  local el=$((R_ELAPSED_US - CALL_MS * 1000)); [ "$el" -gt 0 ] || el=1
  S_ACHIEVED=$(( R_OK * 1000000 / el ))
  S_CPU_OP="-"
  if [ "$R_OK" -gt 0 ]; then S_CPU_OP=$(awk -v c="$cpu_us" -v n="$R_OK" 'BEGIN { printf "%.0f", c / n }'); fi
  S_SRV_PCT=$(( cpu_us * 100 / wall ))
  S_WAIT_PCT=$(( (w1 - w0) / 10 / wall ))
  S_SIPP_PCT=$(( (k1 - k0) * 100 / wall ))
  S_BOX_PCT=$(( bt1 > bt0 ? (b1 - b0) * 100 * NPROC / (bt1 - bt0) : 0 ))
  S_DROPS=$((d1 - d0))
  S_OTHER_DROPS=$(( (a1 - a0) - S_DROPS )); if [ "$S_OTHER_DROPS" -lt 0 ]; then S_OTHER_DROPS=0; fi
  local retr=$((R_RETRANS + U_RETRANS)) sent=$((R_CREATED * 3))
  S_RETR_PCT=$(awk -v r="$retr" -v s="$sent" 'BEGIN { printf "%.3f", s ? 100 * r / s : 0 }')
  local why=""
  [ "$R_FAILED" -eq 0 ] || why+="failed calls (UAC); "
  [ "$U_FAILED" -eq 0 ] || why+="failed calls (UAS $U_FAILED); "
  [ "$R_CREATED" -eq "$calls" ] || why+="only $R_CREATED of $calls calls created; "
  [ $((retr * 1000)) -le "$sent" ] || why+="retransmissions > 0.1 %; "
  [ $((S_ACHIEVED * 100)) -ge $((rate * 97)) ] || why+="completed rate more than 3 % below offered; "
  STEP_CLEAN=yes
  [ -z "$why" ] || STEP_CLEAN=no
  local verdict
  if [ -n "$warm" ]; then verdict="(warm-up)${R_FAILS:+ [$R_FAILS]}"
  elif [ "$STEP_CLEAN" = yes ]; then verdict=clean
  else verdict="NOT CLEAN: $why${R_FAILS:+[UAC $R_FAILS]}${U_FAILS:+[UAS $U_FAILS]}"; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$s" "calls${warm:+-warmup}" "$rate" "$S_ACHIEVED" "$R_CREATED" "$R_OK" "$R_FAILED" "$U_FAILED" "$retr" "$S_RETR_PCT" \
    "$R_P50" "$R_P99" "$S_CPU_OP" "$S_SRV_PCT" "$S_SIPP_PCT" "$S_BOX_PCT" "$S_DROPS" "$S_OTHER_DROPS" "$STEP_CLEAN" "$S_WAIT_PCT" >>"$STEPS"
  printf '  %-11s %5s/s done %5s/s ok %6s fail %s/%s retr %4s (%5s%%) p50 %sms p99 %sms cpu %4s us/call srv %3s%% (+%s%% waiting) sipp %3s%% box %3s%% drops %s/%s %s\n' \
    "${NAME[$s]}" "$rate" "$S_ACHIEVED" "$R_OK" "$R_FAILED" "$U_FAILED" "$retr" "$S_RETR_PCT" "$R_P50" "$R_P99" "$S_CPU_OP" \
    "$S_SRV_PCT" "$S_WAIT_PCT" "$S_SIPP_PCT" "$S_BOX_PCT" "$S_DROPS" "$S_OTHER_DROPS" "$verdict"
  LAST_TAG=$tag
}

diagnose() { # $1 server
  local s=$1 f logf=${LOGF[$1]}
  echo "  --- ${NAME[$s]} stopped at this rate; diagnosis of its last step ($LAST_TAG) ---"
  for f in "$WORK/$LAST_TAG.errors.txt:UAC" "$WORK/$LAST_TAG.uas.errors.txt:UAS"; do
    if [ -s "${f%:*}" ]; then
      echo "  SIPp ${f##*:} error log (capped at 2 MB), by kind:"
      sed -E 's/([0-9]{4}-[0-9]{2}-[0-9]{2}\t[0-9:.]+\t[0-9.]+: )/\n\1/g' "${f%:*}" | awk -f "$BENCH/sipp-errors.awk" \
        | sort -rn | head -8 | cut -c1-150 | sed 's/^/    /' || true
    fi
  done
  if [ -s "$logf" ]; then
    echo "  server log (level warn and above), by kind, whole run so far:"
    awk -f "$BENCH/server-log.awk" "$logf" | sort -rn | head -6 | cut -c1-150 | sed 's/^/    /' || true
  fi
  echo "  this step: server socket drops $S_DROPS, other sockets' drops (SIPp) $S_OTHER_DROPS;" \
    "server CPU $S_SRV_PCT% of one core, runnable-but-waiting $S_WAIT_PCT%; SIPp $S_SIPP_PCT%; box $S_BOX_PCT% of $((NPROC * 100))%"
}

# --- concurrency check: N calls up at once, the server's memory read while they are established

concurrency() { # $1 server
  local s=$1 tag="$s-concurrent" i cur=0 peak_cur=0 peak_rss=0 peak_pss=0 at="" rss0 line
  local setup_s=$(( CONC / CONC_RATE + 1 )) secs=$(( CONC_MS / 1000 + CONC / CONC_RATE + 40 ))
  read_mem ${PIDS[$s]}; rss0=$MEM_RSS
  start_uas "$s" "$CONC" "$tag" $((secs + 5)) || return 0
  run_uac "$s" "$CONC_RATE" "$CONC" "$CONC_MS" "$tag" "$secs" $((CONC + 1000)) &
  local uac=$!
  # sample once a second while the calls are held (bounded: the hold time)
  for i in $(seq 1 $(( CONC_MS / 1000 ))); do
    sleep 1
    kill -0 "$uac" 2>/dev/null || break
    line=$(tail -1 "$WORK/$tag.stat.csv" 2>/dev/null || true)
    cur=$(awk -F';' -v l="$line" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "CurrentCall") c = i; split(l, v, ";"); print v[c] + 0; exit }' "$WORK/$tag.stat.csv" 2>/dev/null || echo 0)
    read_mem ${PIDS[$s]}
    if [ "$cur" -gt "$peak_cur" ] || { [ "$cur" = "$peak_cur" ] && [ "$MEM_RSS" -gt "$peak_rss" ]; }; then
      peak_cur=$cur; peak_rss=$MEM_RSS; peak_pss=$MEM_PSS; at=$i
    fi
    if [ "$i" -gt $((setup_s + 4)) ]; then break; fi
  done
  log "   ${NAME[$s]}: $peak_cur SIPp calls open at t=${at}s (set up at ${CONC_RATE}/s, held ${CONC_MS} ms): server RSS $((peak_rss / 1024)) MiB, PSS $((peak_pss / 1024)) MiB (before: RSS $((rss0 / 1024)) MiB)"
  log "   (waiting for the $CONC calls to end: up to $((CONC_MS / 1000)) s)"
  wait "$uac" 2>/dev/null || true
  wait_uas 10
  uas_result "$tag"
  parse_stat "$WORK/$tag.stat.csv"
  read_mem ${PIDS[$s]}
  log "   ${NAME[$s]}: calls ok $R_OK, failed $R_FAILED (UAS $U_FAILED), retransmissions $((R_RETRANS + U_RETRANS)); RSS after they ended $((MEM_RSS / 1024)) MiB, peak (VmHWM) $((MEM_HWM / 1024)) MiB${R_FAILS:+ [UAC $R_FAILS]}"
  local under=no; [ "$peak_rss" -lt 1048576 ] && under=yes
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$peak_cur" "$peak_rss" "$peak_pss" "$R_OK" "$R_FAILED" "$under" >>"$WORK/concurrency.tsv"
}

# ---------------------------------------------------------------------------

log "Switchboard call benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
log "  repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' + uncommitted changes'); dist/ built $(date -u -r "$DIST/cli/main.js" +%Y-%m-%dT%H:%MZ 2>/dev/null)"
log "  node $(node -v), $(sipp -v 2>&1 | grep -o 'SIPp v[^ ,-]*' | head -1)$([[ ,$SERVERS,$CONC_SERVERS, == *,kam,* ]] && echo ", Kamailio $(kamailio -v 2>/dev/null | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p')")"
BG=0
read_box; b0=$BOX_BUSY; bt0=$BOX_TOTAL; sleep 2; read_box
BG=$(( BOX_TOTAL > bt0 ? (BOX_BUSY - b0) * 100 * NPROC / (BOX_TOTAL - bt0) : 0 ))
log "  $NPROC cores; load before starting (nothing of ours running): ${BG}% of $((NPROC * 100))%$([ "$BG" -gt 20 ] && echo '  <-- OTHER WORK ON THE MACHINE: figures are low and noisy')"
log "  network namespace: $([ "${SB_IN_NETNS:-}" = 1 ] && echo 'private, lo only' || echo 'NONE (not root)'); every server on 127.0.0.1"
log "  call: INVITE/(100)/180/200/ACK/(${CALL_MS} ms)/BYE/200; steps of ${HOLD} s after a ${WARM_SECS} s warm-up at ${WARM_RATE}/s; servers interleaved at each rate"
log "  SIPp UAC and UAS: -buff_size 4194304, one UDP socket each, T1 500 ms (max 5 retransmissions)"
log "  UDP receive buffer asked by both servers: $RECVBUF bytes (Switchboard --udp-recv-buffer; Kamailio -b)"
[[ ,$SERVERS, == *,sb,* ]] && log "  Switchboard: serve --auth off --log-level warn, the UAS registered as bob@$DOMAIN, the UAC calls sip:bob@$DOMAIN"
[[ ,$SERVERS, == *,kam,* ]] && log "  Kamailio: scripts/kamailio-proxy.cfg, 2 UDP workers (-n 2), record_route + t_relay (tm) to the UAS (\$du), -m $KAM_SHM MiB shared memory"

for s in ${SERVERS//,/ } ${CONC_SERVERS//,/ }; do case "$s" in sb|kam) ;; *) die "unknown server $s (sb, kam)" ;; esac; done

declare -A ALIVE=() BEST=() BEST_CPU=() BEST_P99=()
log ""
log "== calls/s ladder"
for s in ${SERVERS//,/ }; do start_server "$s"; done
for s in ${SERVERS//,/ }; do
  step "$s" "$WARM_RATE" "$WARM_SECS" warmup
  ALIVE[$s]=1; BEST[$s]=0; BEST_CPU[$s]="-"; BEST_P99[$s]="-"
done
sleep 1
for rate in $RATES; do
  any=0
  for s in ${SERVERS//,/ }; do
    [ "${ALIVE[$s]}" = 1 ] || continue
    attempt=0
    while :; do
      step "$s" "$rate" "$HOLD"
      [ "$STEP_CLEAN" = yes ] && break
      [ "$attempt" -lt "$RETRIES" ] || break
      attempt=$((attempt + 1))
      log "  (${NAME[$s]}: repeating ${rate}/s after a 3 s pause)"
      sleep 3
    done
    if [ "$STEP_CLEAN" = yes ]; then
      BEST[$s]=$rate; BEST_CPU[$s]=$S_CPU_OP; BEST_P99[$s]=$R_P99; any=1
    else
      ALIVE[$s]=0
      diagnose "$s"
    fi
    sleep 1
  done
  [ "$any" = 1 ] || break
done
for s in ${SERVERS//,/ }; do
  read_mem ${PIDS[$s]}
  log "   ${NAME[$s]} memory after the ladder: RSS $((MEM_RSS / 1024)) MiB (peak $((MEM_HWM / 1024)) MiB), PSS $((MEM_PSS / 1024)) MiB, $(wc -w <<<"${PIDS[$s]}") process(es)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "${BEST[$s]}" "${BEST_CPU[$s]}" "$MEM_RSS" "$MEM_HWM" "$MEM_PSS" "${BEST_P99[$s]}" >>"$SUMMARY"
done

if [ "$CONC" -gt 0 ]; then
  log ""
  log "== concurrency: $CONC calls set up at ${CONC_RATE}/s, each held ${CONC_MS} ms; memory read while they are established"
  : >"$WORK/concurrency.tsv"
  for s in ${CONC_SERVERS//,/ }; do
    if [ -z "${MAIN[$s]:-}" ]; then start_server "$s"; fi
    sleep 2
    concurrency "$s"
  done
fi
for s in "${!MAIN[@]}"; do stop_server "$s"; done

# --- summary -------------------------------------------------------------------

log ""
log "== Summary: highest clean step (zero failed calls); CPU per call at that step; memory after the ladder"
log "   memory: RSS of the process (Switchboard) / PSS summed over the processes (Kamailio: shared memory counted once)"
printf '   %-12s %12s %13s %9s %9s %13s %9s\n' server "clean rate" "CPU us/call" "p99 ms" "RSS MiB" "peak RSS MiB" "PSS MiB"
ok_all=1
while IFS=$'\t' read -r s best cpu rss hwm pss p99; do
  if [ "$best" = 0 ]; then ok_all=0; best="none"; else best="$best/s"; fi
  printf '   %-12s %12s %13s %9s %9s %13s %9s\n' "${NAME[$s]}" "$best" "$cpu" "$p99" "$((rss / 1024))" "$((hwm / 1024))" "$((pss / 1024))"
done <"$SUMMARY"
if [[ ,$SERVERS, == *,sb,* && ,$SERVERS, == *,kam,* ]]; then
  awk -F'\t' '{ best[$1] = $2; cpu[$1] = $3 }
    END {
      r = (best["kam"] > 0) ? sprintf("%.2f", best["sb"] / best["kam"]) : "-"
      c = (cpu["sb"] != "-" && cpu["kam"] != "-" && cpu["kam"] > 0) ? sprintf("%.2f", cpu["sb"] / cpu["kam"]) : "-"
      printf "   ratio Switchboard / Kamailio: clean rate %s, CPU per call at the highest clean step %s\n", r, c }' "$SUMMARY"
  log "   CPU per call at the same offered rate (* = that step was not clean):"
  awk -F'\t' 'NR > 1 && $2 !~ /warmup/ { cpu[$1 "|" $3] = $13 ($19 == "yes" ? "" : "*"); keys[$3] = 1 }
    END {
      for (k in keys) {
        if (!(("sb|" k) in cpu) || !(("kam|" k) in cpu)) continue
        x = cpu["sb|" k]; y = cpu["kam|" k]; a = x; b = y; sub(/\*$/, "", a); sub(/\*$/, "", b)
        printf "   %6s/s   Switchboard %7s us   Kamailio %7s us   ratio %.2f\n", k, x, y, (b > 0 ? a / b : 0)
      }
    }' "$STEPS" | sort -n
fi
if [ -s "$WORK/concurrency.tsv" ]; then
  log ""
  log "   concurrency check (calls open in the SIPp UAC when memory was read; RSS / PSS in MiB; under 1 GiB?):"
  while IFS=$'\t' read -r s cur rss pss ok failed under; do
    printf '   %-12s %6s calls open   RSS %5s MiB   PSS %5s MiB   under 1 GiB: %s   (calls ok %s, failed %s)\n' \
      "${NAME[$s]}" "$cur" "$((rss / 1024))" "$((pss / 1024))" "$under" "$ok" "$failed"
  done <"$WORK/concurrency.tsv"
fi
log ""
log "   every step: $STEPS$([ "$KEEP" = 1 ] || echo ' (pass --keep to keep it with the SIPp statistics and the server logs)')"
if [ "$SMOKE" = 1 ]; then
  if [ "$ok_all" = 1 ] && ! awk -F'\t' 'NR > 1 && $19 != "yes" && $2 !~ /warmup/ { bad = 1 } END { exit !bad }' "$STEPS"; then
    log "smoke: OK"
    exit 0
  fi
  log "smoke: FAILED"
  if [ "$KEEP" != 1 ]; then
    cat "$STEPS"
    for f in "$WORK"/*.log; do echo "--- $f"; tail -20 "$f"; done
  fi
  exit 1
fi
exit 0
