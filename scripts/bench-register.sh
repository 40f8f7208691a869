#!/usr/bin/env bash
# REGISTER benchmark (issue 5): Switchboard against Kamailio, side by side in
# one run on the same machine, with the same users, the same SIPp scenarios
# and the same UDP receive buffer. It follows the pitfalls of the project's
# BENCHMARKING.md notes: SIPp -buff_size 4194304, equal server receive
# buffers, a warm-up at low rate, CPU read from /proc/PID/stat once at the
# start and once at the end of a step (no sampler).
#
# usage: scripts/bench-register.sh [options]
#   --smoke              CI smoke check: a few seconds at low rate, Switchboard
#                        only (no Kamailio needed); exit 0 when every step is
#                        clean, 1 when not, 2 when something is missing
#   --servers LIST       sb,kam (default both)
#   --modes LIST         noauth,auth (default both)
#   --rates "R1 R2 ..."  REGISTER/s of the no-auth steps
#   --auth-rates "..."   registrations/s of the auth steps (REGISTER -> 401 ->
#                        REGISTER -> 200: two REGISTERs each)
#   --hold S             seconds per step (default 12)
#   --warmup-rate R      warm-up rate (default 1000/s) ...
#   --warmup-secs S      ... for S seconds (default 5)
#   --retries N          repeat a step that is not clean N times (default 1)
#   --users N            subscribers user0..user<N-1>, password pw<N> (default 20000)
#   --recv-buffer BYTES  UDP receive buffer asked by both servers (default 4194304)
#   --build              run `npm run build` first
#   --keep               keep the work directory (logs, SIPp statistics, databases)
#   --wait-quiet S       wait up to S seconds (at most 1800) for the machine to be
#                        under 50 % busy before starting (shared machines)
#   SB_DIST=DIR          environment: use this built tree instead of dist/
#   SB_FLAGS="..."       environment: more flags for `switchboard serve` (A/B runs,
#                        e.g. SB_FLAGS="--udp-io-thread off")
#
# Each mode starts both servers, warms both up, then offers each rate to one
# server after the other (interleaved, so that both see the same machine).
# "Clean" step = zero failed calls, SIPp retransmissions <= 0.1 % of the
# REGISTERs sent, completed rate within 3 % of the offered one, every call
# created. A server's figure is its highest clean step; its ladder stops at
# its first step that is not clean (after --retries repeats), with a
# diagnosis (SIPp error log, server log, socket drops, CPU and run-queue wait).
#
# Needs root for the private network namespace (unshare --net, only `lo`,
# every server on 127.0.0.1): the script re-executes itself through
# scripts/in-netns.sh. Without root only --smoke runs (with a warning).
# Tools: node and the built dist/, sipp (Debian: sip-tester), and for the
# comparison kamailio and kamailio-sqlite-modules.
# Files: scripts/kamailio-registrar.cfg, scripts/bench/ (SIPp scenarios, user
# creation, the MD5-first wrapper used for SIPp, log summarisers).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BENCH="$HERE/bench"
DIST="${SB_DIST:-$REPO/dist}"

SMOKE=0
SERVERS="sb,kam"
MODES="noauth,auth"
RATES="2000 4000 6000 8000 10000 12000 15000 18000 22000 26000"
AUTH_RATES="1000 2000 4000 6000 8000 10000 12000 15000"
HOLD=12
WARM_RATE=1000
WARM_SECS=5
RETRIES=1
USERS=20000
RECVBUF=4194304
BUILD=0
KEEP=0
WAIT_QUIET=0
SB_PORT=5070
KAM_PORT=5090
DOMAIN=example.test
ARGS=("$@")

die() { echo "bench-register: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --servers) SERVERS=$2; shift ;;
    --modes) MODES=$2; shift ;;
    --rates) RATES=$2; shift ;;
    --auth-rates) AUTH_RATES=$2; shift ;;
    --hold) HOLD=$2; shift ;;
    --warmup-rate) WARM_RATE=$2; shift ;;
    --warmup-secs) WARM_SECS=$2; shift ;;
    --retries) RETRIES=$2; shift ;;
    --users) USERS=$2; shift ;;
    --recv-buffer) RECVBUF=$2; shift ;;
    --build) BUILD=1 ;;
    --keep) KEEP=1 ;;
    --wait-quiet) WAIT_QUIET=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
if [ "$SMOKE" = 1 ]; then
  SERVERS=sb; RATES="200"; AUTH_RATES="100"; HOLD=2; WARM_RATE=50; WARM_SECS=1; USERS=200; RETRIES=1
fi
for v in HOLD WARM_RATE WARM_SECS USERS RECVBUF; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v} must be a positive integer"
done
[[ $RETRIES =~ ^[0-9]$ ]] || die "--retries must be 0..9"
[[ $WAIT_QUIET =~ ^[0-9]+$ ]] && [ "$WAIT_QUIET" -le 1800 ] || die "--wait-quiet must be 0..1800 seconds"
for r in $RATES $AUTH_RATES; do [[ $r =~ ^[1-9][0-9]*$ ]] || die "bad rate $r"; done
# bounded: at most 16 steps per ladder, at most 60 s per step, at most 50k/s
[ "$(wc -w <<<"$RATES")" -le 16 ] && [ "$(wc -w <<<"$AUTH_RATES")" -le 16 ] || die "at most 16 rates per ladder"
[ "$HOLD" -le 60 ] && [ "$WARM_SECS" -le 60 ] || die "--hold and --warmup-secs are at most 60 s"
for r in $RATES $AUTH_RATES $WARM_RATE; do [ "$r" -le 50000 ] || die "rates are capped at 50000/s"; done

# ---------------------------------------------------------------------------
# Checks (before entering the namespace, so that messages are plain)

missing=0
need() { # need CMD "what to install"
  if ! command -v "$1" >/dev/null 2>&1; then echo "bench-register: '$1' not found: $2" >&2; missing=1; fi
}
need node "install Node.js 20"
need sipp "install SIPp 3.6 (Debian/Ubuntu: apt-get install sip-tester)"
need ss "install iproute2"
need timeout "install coreutils"
if [[ ,$SERVERS, == *,kam,* ]]; then
  need kamailio "install Kamailio 5.6 (Debian: apt-get install kamailio kamailio-sqlite-modules), or run with --servers sb"
  if command -v kamailio >/dev/null 2>&1 && [[ ,$MODES, == *,auth,* ]]; then
    KAM_MODDIR=/usr/lib/x86_64-linux-gnu/kamailio/modules
    [ -f "$KAM_MODDIR/db_sqlite.so" ] || { echo "bench-register: Kamailio's db_sqlite module is missing: apt-get install kamailio-sqlite-modules" >&2; missing=1; }
    [ -f /usr/share/kamailio/db_sqlite/auth_db-create.sql ] || { echo "bench-register: /usr/share/kamailio/db_sqlite/auth_db-create.sql missing (kamailio-sqlite-modules)" >&2; missing=1; }
  fi
fi
[ "$missing" = 0 ] || exit 2

if [ "${SB_IN_NETNS:-}" != 1 ]; then
  if [ "$BUILD" = 1 ]; then (cd "$REPO" && npm run build) || die "npm run build failed"; fi
  if [ "$(id -u)" != 0 ]; then
    [ "$SMOKE" = 1 ] || die "needs root for a private network namespace (unshare --net); only --smoke runs without it"
    echo "bench-register: not root: smoke run WITHOUT a private network namespace (everything on 127.0.0.1)" >&2
    export SB_IN_NETNS=0
  else
    exec bash "$HERE/in-netns.sh" bash "$HERE/$(basename "$0")" "${ARGS[@]}"
  fi
fi
[ -f "$DIST/cli/main.js" ] || die "$DIST/cli/main.js not found: run npm run build (or pass --build)"
DIST=$(cd "$DIST" && pwd)

# ---------------------------------------------------------------------------
# Work directory and the processes we start (stopped by PID on exit)

WORK=$(mktemp -d /tmp/sb-bench.XXXXXX)
cd "$WORK"
declare -A MAIN=() PIDS=() PORT=() SIPP_PORT=() NAME=() LOGF=()
PORT[sb]=$SB_PORT;  SIPP_PORT[sb]=5201; NAME[sb]=Switchboard
PORT[kam]=$KAM_PORT; SIPP_PORT[kam]=5202; NAME[kam]=Kamailio
cleanup() {
  local s
  for s in "${!MAIN[@]}"; do stop_server "$s" || true; done
  if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n 65536 2>/dev/null || true # SIPp warns below its socket + call count
CLK_TCK=$(getconf CLK_TCK)
NPROC=$(nproc)
STEP_NO=0
SUMMARY="$WORK/summary.tsv"
STEPS="$WORK/steps.tsv"
: >"$SUMMARY"
printf 'server\tmode\trate\tachieved\tcalls\tok\tfailed\tretrans\tretrans_pct\tp50\tp99\tcpu_us_per_op\tserver_cpu_pct\tsipp_cpu_pct\tbox_cpu_pct\tserver_drops\tother_drops\tclean\tserver_runqueue_wait_pct\n' >"$STEPS"

# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"
start_server() { # $1 = sb|kam, $2 = mode
  local s=$1 mode=$2
  LOGF[$s]="$WORK/$s-$mode.log"
  if [ "$s" = sb ]; then
    local db="$WORK/sb-$mode.db" auth=off
    cp "$WORK/sb-users.db" "$db"
    # SIPp 3.6.1 reads only the first challenge and knows only MD5: offer MD5 alone (as Kamailio does)
    [ "$mode" = auth ] && auth=on
    node "$DIST/cli/main.js" serve --udp "127.0.0.1:${PORT[sb]}" --domain "$DOMAIN" --db "$db" \
      --auth "$auth" --digest-algorithms md5 --udp-recv-buffer "$RECVBUF" --log-level warn ${SB_FLAGS:-} >"${LOGF[sb]}" 2>&1 &
    MAIN[sb]=$!
    PIDS[sb]=${MAIN[sb]}
    wait_listening sb
  else
    local defs=()
    if [ "$mode" = auth ]; then defs=(-A WITH_AUTH -A "DBURL=\"sqlite:///$WORK/kamailio.db\""); fi
    mkdir -p "$WORK/kam-run"
    # -b: ceiling of Kamailio's receive-buffer auto-probing = the size Switchboard asks for
    kamailio -f "$REPO/scripts/kamailio-registrar.cfg" -DD -E -Y "$WORK/kam-run" -w "$WORK" \
      -l "udp:127.0.0.1:${PORT[kam]}" -n 2 -b "$RECVBUF" "${defs[@]}" >"${LOGF[kam]}" 2>&1 &
    MAIN[kam]=$!
    wait_listening kam
    sleep 0.5 # every child forked
    PIDS[kam]="${MAIN[kam]} $(children_of "${MAIN[kam]}" | tr '\n' ' ')"
  fi
  log "   ${NAME[$s]}: pids ${PIDS[$s]}; UDP 127.0.0.1:${PORT[$s]}, socket receive buffer (kernel, ss rb) $(rcvbuf_of "${PORT[$s]}") bytes"
}


# --- one SIPp run ------------------------------------------------------------

# run_sipp SERVER SCENARIO RATE SECONDS TAG -> R_* from its final statistics line
run_sipp() {
  local s=$1 scen=$2 rate=$3 secs=$4 tag=$5
  local calls=$((rate * secs))
  local stf="$WORK/$tag.stat.csv"
  rm -f "$stf"
  # Bounded three ways: -m calls, -timeout (global, seconds), timeout(1) as a last resort.
  # One SIPp local port per server for the whole run, so each user keeps ONE binding
  # (Contact = userN@127.0.0.1:that port), refreshed under a new Call-ID by every call.
  timeout -k 5 $((secs + 60)) sipp "127.0.0.1:${PORT[$s]}" -sf "$scen" -inf "$WORK/users.csv" \
    -i 127.0.0.1 -p "${SIPP_PORT[$s]}" -t u1 -buff_size 4194304 \
    -r "$rate" -rp 1000 -m "$calls" -l $((rate * 3)) \
    -max_retrans 5 -timeout $((secs + 45))s -timeout_error \
    -nostdin -trace_stat -stf "$stf" -fd 1 \
    -trace_screen -screen_file "$WORK/$tag.screen.txt" \
    -trace_err -error_file "$WORK/$tag.errors.txt" -max_log_size 2000000 -ringbuffer_files 1 \
    >/dev/null 2>"$WORK/$tag.sipp-stderr.txt" || true
  parse_stat "$stf"
}

# last line of a -trace_stat file -> R_CREATED R_OK R_FAILED R_RETRANS R_ELAPSED_US R_P50 R_P99 R_FAILS

# --- a step: one SIPp run, with the server's CPU, socket drops and the box's CPU around it

# step SERVER MODE SCENARIO MSGS_PER_CALL RATE SECONDS [warmup] -> STEP_CLEAN, S_*; a row in $STEPS
step() {
  local s=$1 mode=$2 scen=$3 per=$4 rate=$5 secs=$6 warm=${7:-}
  STEP_NO=$((STEP_NO + 1))
  local tag="$s-$mode-$rate-$STEP_NO" port=${PORT[$s]}
  local t0 t1 c0 c1 b0 b1 bt0 bt1 d0 d1 a0 a1 k0 k1 w0 w1
  read_drops "$port"; d0=$SOCK_DROPS; a0=$ALL_DROPS
  read_box; b0=$BOX_BUSY; bt0=$BOX_TOTAL
  read_children_cpu; k0=$CHILD_US
  read_wait ${PIDS[$s]}; w0=$WAITNS
  read_ticks ${PIDS[$s]}; c0=$TICKS
  now_us; t0=$NOW
  run_sipp "$s" "$scen" "$rate" "$secs" "$tag"
  now_us; t1=$NOW
  read_ticks ${PIDS[$s]}; c1=$TICKS
  read_wait ${PIDS[$s]}; w1=$WAITNS
  read_children_cpu; k1=$CHILD_US
  read_box; b1=$BOX_BUSY; bt1=$BOX_TOTAL
  read_drops "$port"; d1=$SOCK_DROPS; a1=$ALL_DROPS

  local calls=$((rate * secs)) wall=$((t1 - t0))
  local cpu_us=$(( (c1 - c0) * 1000000 / CLK_TCK ))
  S_ACHIEVED=$(( R_OK * 1000000 / R_ELAPSED_US ))
  S_CPU_OP="-"
  if [ "$R_OK" -gt 0 ]; then S_CPU_OP=$(awk -v c="$cpu_us" -v n="$R_OK" 'BEGIN { printf "%.1f", c / n }'); fi
  S_SRV_PCT=$(( cpu_us * 100 / wall ))
  S_WAIT_PCT=$(( (w1 - w0) / 10 / wall ))
  S_SIPP_PCT=$(( (k1 - k0) * 100 / wall ))
  S_BOX_PCT=$(( bt1 > bt0 ? (b1 - b0) * 100 * NPROC / (bt1 - bt0) : 0 ))
  S_DROPS=$((d1 - d0))
  S_OTHER_DROPS=$(( (a1 - a0) - S_DROPS )); if [ "$S_OTHER_DROPS" -lt 0 ]; then S_OTHER_DROPS=0; fi
  local sent=$((R_CREATED * per))
  S_RETR_PCT=$(awk -v r="$R_RETRANS" -v s="$sent" 'BEGIN { printf "%.3f", s ? 100 * r / s : 0 }')
  local why=""
  [ "$R_FAILED" -eq 0 ] || why+="failed calls; "
  [ "$R_CREATED" -eq "$calls" ] || why+="only $R_CREATED of $calls calls created; "
  [ $((R_RETRANS * 1000)) -le "$sent" ] || why+="retransmissions > 0.1 %; "
  [ $((S_ACHIEVED * 100)) -ge $((rate * 97)) ] || why+="completed rate more than 3 % below offered; "
  STEP_CLEAN=yes
  [ -z "$why" ] || STEP_CLEAN=no
  local verdict
  if [ -n "$warm" ]; then verdict="(warm-up)${R_FAILS:+ [$R_FAILS]}"
  elif [ "$STEP_CLEAN" = yes ]; then verdict=clean
  else verdict="NOT CLEAN: $why${R_FAILS:+[$R_FAILS]}"; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$s" "$mode${warm:+-warmup}" "$rate" "$S_ACHIEVED" "$R_CREATED" "$R_OK" "$R_FAILED" "$R_RETRANS" "$S_RETR_PCT" \
    "$R_P50" "$R_P99" "$S_CPU_OP" "$S_SRV_PCT" "$S_SIPP_PCT" "$S_BOX_PCT" "$S_DROPS" "$S_OTHER_DROPS" "$STEP_CLEAN" "$S_WAIT_PCT" >>"$STEPS"
  printf '  %-11s %6s/s done %6s/s ok %7s fail %4s retr %5s (%5s%%) p50 %sms p99 %sms cpu %6s us/op srv %3s%% (+%s%% waiting) sipp %3s%% box %3s%% drops %s/%s %s\n' \
    "${NAME[$s]}" "$rate" "$S_ACHIEVED" "$R_OK" "$R_FAILED" "$R_RETRANS" "$S_RETR_PCT" "$R_P50" "$R_P99" "$S_CPU_OP" \
    "$S_SRV_PCT" "$S_WAIT_PCT" "$S_SIPP_PCT" "$S_BOX_PCT" "$S_DROPS" "$S_OTHER_DROPS" "$verdict"
  LAST_TAG=$tag
}

diagnose() { # $1 server $2 mode: what SIPp and the server said on the failing step
  local s=$1 errf="$WORK/$LAST_TAG.errors.txt" logf=${LOGF[$1]}
  echo "  --- ${NAME[$s]} $2 stopped at this rate; diagnosis of its last step ($LAST_TAG) ---"
  if [ -s "$errf" ]; then
    echo "  SIPp error log (capped at 2 MB), by kind:"
    sed -E 's/([0-9]{4}-[0-9]{2}-[0-9]{2}\t[0-9:.]+\t[0-9.]+: )/\n\1/g' "$errf" | awk -f "$BENCH/sipp-errors.awk" \
      | sort -rn | head -8 | cut -c1-150 | sed 's/^/    /' || true
  fi
  if [ -s "$logf" ]; then
    echo "  server log (level warn and above), by kind, whole run so far:"
    awk -f "$BENCH/server-log.awk" "$logf" | sort -rn | head -6 | cut -c1-150 | sed 's/^/    /' || true
  fi
  echo "  this step: server socket drops $S_DROPS, other sockets' drops (SIPp) $S_OTHER_DROPS;" \
    "server CPU $S_SRV_PCT% of one core, runnable-but-waiting $S_WAIT_PCT%; SIPp $S_SIPP_PCT%; box $S_BOX_PCT% of $((NPROC * 100))%"
}

# --- one mode: every server started, warmed up, then the ladder, interleaved ----

declare -A ALIVE=() BEST=() BEST_CPU=() BEST_P99=()
run_mode() { # $1 = noauth|auth
  local mode=$1 scen per rates s rate attempt any
  if [ "$mode" = auth ]; then scen="$BENCH/register-auth.xml"; per=2; rates=$AUTH_RATES
  else scen="$BENCH/register-noauth.xml"; per=1; rates=$RATES; fi
  log ""
  log "== $mode: $([ "$mode" = auth ] && echo 'rates in registrations/s (REGISTER/401/REGISTER/200, 2 REGISTERs each); CPU per registration' || echo 'rates in REGISTER/s; CPU per REGISTER')"
  for s in ${SERVERS//,/ }; do start_server "$s" "$mode"; done
  for s in ${SERVERS//,/ }; do
    step "$s" "$mode" "$scen" "$per" "$WARM_RATE" "$WARM_SECS" warmup
    ALIVE[$s]=1; BEST[$s]=0; BEST_CPU[$s]="-"; BEST_P99[$s]="-"
  done
  sleep 1
  for rate in $rates; do
    any=0
    for s in ${SERVERS//,/ }; do
      [ "${ALIVE[$s]}" = 1 ] || continue
      attempt=0
      while :; do
        step "$s" "$mode" "$scen" "$per" "$rate" "$HOLD"
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
        diagnose "$s" "$mode"
      fi
      sleep 1
    done
    [ "$any" = 1 ] || break
  done
  for s in ${SERVERS//,/ }; do
    read_mem ${PIDS[$s]}
    log "   ${NAME[$s]} memory at the end: RSS $((MEM_RSS / 1024)) MiB (peak $((MEM_HWM / 1024)) MiB), PSS $((MEM_PSS / 1024)) MiB, $(wc -w <<<"${PIDS[$s]}") process(es)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$mode" "${BEST[$s]}" "${BEST_CPU[$s]}" "$MEM_RSS" "$MEM_PSS" "${BEST_P99[$s]}" "$(wc -w <<<"${PIDS[$s]}")" >>"$SUMMARY"
    stop_server "$s"
  done
  if [[ ,$SERVERS, == *,sb,* ]] && command -v sqlite3 >/dev/null 2>&1; then
    log "   Switchboard bindings on disk (SQLite) after the run: $(sqlite3 "$WORK/sb-$mode.db" 'SELECT COUNT(*) FROM bindings' 2>/dev/null || echo '?')"
  fi
  sleep 2
}

# ---------------------------------------------------------------------------

log "Switchboard REGISTER benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
log "  repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' + uncommitted changes'); dist/ built $(date -u -r "$DIST/cli/main.js" +%Y-%m-%dT%H:%MZ 2>/dev/null)"
log "  node $(node -v), $(sipp -v 2>&1 | grep -o 'SIPp v[^ ,-]*' | head -1)$([[ ,$SERVERS, == *,kam,* ]] && echo ", Kamailio $(kamailio -v 2>/dev/null | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p')")"
BG=0
background_load() { # BG = % of one core the machine is busy over 2 s (nothing of ours running)
  local b0 bt0
  read_box; b0=$BOX_BUSY; bt0=$BOX_TOTAL; sleep 2; read_box
  BG=$(( BOX_TOTAL > bt0 ? (BOX_BUSY - b0) * 100 * NPROC / (BOX_TOTAL - bt0) : 0 ))
}
background_load
if [ "$WAIT_QUIET" -gt 0 ]; then
  now_us; quiet_end=$((NOW + WAIT_QUIET * 1000000))
  while [ "$BG" -gt $((NPROC * 50)) ] && now_us && [ "$NOW" -lt "$quiet_end" ]; do
    log "  machine ${BG}% busy; waiting for it to be under $((NPROC * 50))% (--wait-quiet)"
    sleep 8
    background_load
  done
fi
log "  $NPROC cores; load before starting (nothing of ours running): ${BG}% of $((NPROC * 100))%$([ "$BG" -gt 20 ] && echo '  <-- OTHER WORK ON THE MACHINE: figures are low and noisy')"
log "  network namespace: $([ "${SB_IN_NETNS:-}" = 1 ] && echo 'private, lo only' || echo 'NONE (not root)'); every server on 127.0.0.1; net.core.rmem_max $(cat /proc/sys/net/core/rmem_max) (not changed)"
log "  users: $USERS (user0..user$((USERS - 1)), password pw<N>, one Contact each); steps of ${HOLD} s after a ${WARM_SECS} s warm-up at ${WARM_RATE}/s; servers interleaved at each rate"
log "  SIPp: -buff_size 4194304, one UDP socket, -l 3 s of calls, retransmissions T1 500 ms (max 5)"
log "  UDP receive buffer asked by both servers: $RECVBUF bytes (Switchboard --udp-recv-buffer; Kamailio -b, the ceiling of its SO_RCVBUF probing); the kernel doubles it"
[[ ,$SERVERS, == *,sb,* ]] && log "  Switchboard: bindings persisted to SQLite (its normal mode: WAL, written by a worker thread, group commit every --commit-window ms (default 3), each 200 sent after the commit holding its binding); --log-level warn${SB_FLAGS:+ $SB_FLAGS}$([[ ,$MODES, == *,auth,* ]] && echo '; auth: --digest-algorithms md5 (SIPp reads only the first challenge)')"
[[ ,$SERVERS, == *,kam,* ]] && log "  Kamailio: scripts/kamailio-registrar.cfg, 2 UDP workers (-n 2), stateless (sl), usrloc in memory (db_mode 0); auth: auth_db + db_sqlite subscriber table, HA1 stored (calculate_ha1 0), qop=auth, no nonce-count tracking"

node "$BENCH/make-users.mjs" --dist "$DIST" --count "$USERS" --domain "$DOMAIN" \
  --sb-db "$WORK/sb-users.db" $([[ ,$SERVERS, == *,kam,* && ,$MODES, == *,auth,* ]] && echo "--kam-db $WORK/kamailio.db") \
  --csv "$WORK/users.csv" | sed 's/^/  /'

for s in ${SERVERS//,/ }; do case "$s" in sb|kam) ;; *) die "unknown server $s (sb, kam)" ;; esac; done
for mode in ${MODES//,/ }; do
  case "$mode" in noauth|auth) run_mode "$mode" ;; *) die "unknown mode $mode (noauth, auth)" ;; esac
done

# --- summary -------------------------------------------------------------------

log ""
log "== Summary: highest clean step; CPU per operation at that step; memory at the end of the mode's run"
log "   operation = one REGISTER (noauth) or one registration, REGISTER/401/REGISTER/200 (auth)"
log "   memory: RSS of the process (Switchboard) / PSS summed over the processes (Kamailio: shared memory counted once)"
printf '   %-7s %-12s %12s %11s %9s %9s %9s\n' mode server "clean rate" "CPU us/op" "p99 ms" "RSS MiB" "PSS MiB"
ok_all=1
while IFS=$'\t' read -r s mode best cpu rss pss p99 nproc; do
  if [ "$best" = 0 ]; then ok_all=0; fi
  if [ "$best" = 0 ]; then best="none"; else best="$best/s"; fi
  printf '   %-7s %-12s %12s %11s %9s %9s %9s\n' "$mode" "${NAME[$s]}" "$best" "$cpu" "$p99" "$((rss / 1024))" "$((pss / 1024))"
done <"$SUMMARY"
if [[ ,$SERVERS, == *,sb,* && ,$SERVERS, == *,kam,* ]]; then
  log ""
  log "   ratio Switchboard / Kamailio (memory: Switchboard RSS / Kamailio PSS):"
  for mode in ${MODES//,/ }; do
    awk -F'\t' -v m="$mode" '$2 == m { best[$1] = $3; cpu[$1] = $4; rss[$1] = $5; pss[$1] = $6 }
      END {
        r = (best["kam"] > 0) ? sprintf("%.2f", best["sb"] / best["kam"]) : "-"
        c = (cpu["sb"] != "-" && cpu["kam"] != "-" && cpu["kam"] > 0) ? sprintf("%.2f", cpu["sb"] / cpu["kam"]) : "-"
        mm = (pss["kam"] > 0) ? sprintf("%.2f", rss["sb"] / pss["kam"]) : "-"
        printf "   %-7s clean rate %s   CPU/op at the highest clean step %s   memory %s\n", m, r, c, mm }' "$SUMMARY"
  done
  log ""
  log "   CPU per operation at the same offered rate (last attempt of each step; * = that step was not clean):"
  awk -F'\t' 'NR > 1 && $2 !~ /warmup/ { k = $2 "|" $3; cpu[$1 "|" k] = $12 ($18 == "yes" ? "" : "*"); keys[k] = 1 }
    END {
      for (k in keys) {
        a = "sb|" k; b = "kam|" k
        if (!(a in cpu) || !(b in cpu)) continue
        split(k, p, "|")
        x = cpu[a]; y = cpu[b]; sub(/\*$/, "", x); sub(/\*$/, "", y)
        printf "   %-7s %6s/s   Switchboard %8s us   Kamailio %8s us   ratio %.2f\n", p[1], p[2], cpu[a], cpu[b], (y > 0 ? x / y : 0)
      }
    }' "$STEPS" \
    | sort -k1,1r -k2n
fi
log ""
log "   every step: $STEPS$([ "$KEEP" = 1 ] || echo ' (pass --keep to keep it with the SIPp statistics and the server logs)')"
if [ "$SMOKE" = 1 ]; then
  if [ "$ok_all" = 1 ] && ! awk -F'\t' 'NR > 1 && $18 != "yes" && $2 !~ /warmup/ { bad = 1 } END { exit !bad }' "$STEPS"; then
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
