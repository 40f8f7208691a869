# shellcheck shell=bash
# Shared by bench-register.sh and bench-calls.sh (sourced): logging, /proc
# readers for CPU, scheduler wait, drops and memory, waiting for a server to
# listen, stopping a server by its PIDs, and parse_stat for SIPp statistics. Uses the caller's PORT, PIDS,
# MAIN and CLK_TCK.

log() { printf '%s\n' "$*"; }

# --- /proc readers (builtins only: nothing forks while a step is measured) ---

TICKS=0
read_ticks() { # $@ = PIDs -> TICKS = sum of utime+stime (clock ticks), all threads
  TICKS=0
  local pid line rest
  local -a f
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    read -r line <"/proc/$pid/stat" || continue
    rest=${line##*) }
    read -r -a f <<<"$rest"
    TICKS=$((TICKS + f[11] + f[12]))
  done
}

WAITNS=0
read_wait() { # $@ = PIDs -> WAITNS = ns their main threads spent runnable but waiting for a CPU (schedstat)
  WAITNS=0
  local pid run wait rest
  for pid in "$@"; do
    [ -r "/proc/$pid/schedstat" ] || continue
    read -r run wait rest <"/proc/$pid/schedstat" || continue
    WAITNS=$((WAITNS + wait))
  done
}

BOX_BUSY=0 BOX_TOTAL=0
read_box() { # all CPUs: busy and total jiffies
  local cpu u n s idle iow irq sirq steal rest
  read -r cpu u n s idle iow irq sirq steal rest </proc/stat
  BOX_TOTAL=$((u + n + s + idle + iow + irq + sirq + steal))
  BOX_BUSY=$((BOX_TOTAL - idle - iow))
}

SOCK_DROPS=0 ALL_DROPS=0
read_drops() { # $1 = port: that socket's drop counter (/proc/net/udp) and the namespace's Udp RcvbufErrors
  local want a b n=0
  local -a f
  printf -v want '0100007F:%04X' "$1"
  SOCK_DROPS=0
  while read -r -a f; do
    if [ "${f[1]:-}" = "$want" ]; then SOCK_DROPS=${f[12]:-0}; fi
  done </proc/net/udp
  ALL_DROPS=0
  while read -r a b; do
    if [ "$a" = "Udp:" ]; then
      n=$((n + 1))
      if [ $n = 2 ]; then read -r -a f <<<"$b"; ALL_DROPS=${f[4]}; fi
    fi
  done </proc/net/snmp
}

CHILD_US=0
read_children_cpu() { # CPU of the terminated, waited-for children of this shell (SIPp), µs: `times`, no subshell
  local u s
  times >"$WORK/.times"
  { read -r u s; read -r u s; } <"$WORK/.times"
  dur_us "$u"; CHILD_US=$DUR
  dur_us "$s"; CHILD_US=$((CHILD_US + DUR))
}
DUR=0
dur_us() { # 1m2.345s -> DUR µs
  local v=$1 m sec whole frac
  m=${v%%m*}; sec=${v#*m}; sec=${sec%s}
  whole=${sec%.*}; frac=${sec#*.}000000
  DUR=$(( (10#$m * 60 + 10#$whole) * 1000000 + 10#${frac:0:6} ))
}

NOW=0
now_us() { local t=$EPOCHREALTIME; NOW=$(( ${t%.*} * 1000000 + 10#${t#*.} )); }

MEM_RSS=0 MEM_HWM=0 MEM_PSS=0
read_mem() { # $@ = PIDs: RSS, peak RSS and PSS (shared pages divided among their users), kB, summed
  MEM_RSS=0 MEM_HWM=0 MEM_PSS=0
  local pid k v rest
  for pid in "$@"; do
    [ -r "/proc/$pid/status" ] || continue
    while read -r k v rest; do
      case "$k" in VmRSS:) MEM_RSS=$((MEM_RSS + v)) ;; VmHWM:) MEM_HWM=$((MEM_HWM + v)) ;; esac
    done <"/proc/$pid/status"
    if [ -r "/proc/$pid/smaps_rollup" ]; then
      while read -r k v rest; do
        if [ "$k" = "Pss:" ]; then MEM_PSS=$((MEM_PSS + v)); fi
      done <"/proc/$pid/smaps_rollup"
    fi
  done
}

# --- servers -----------------------------------------------------------------

udp_listening() { # $1 = port
  local want
  local -a f
  printf -v want '0100007F:%04X' "$1"
  while read -r -a f; do
    if [ "${f[1]:-}" = "$want" ]; then return 0; fi
  done </proc/net/udp
  return 1
}

wait_listening() { # $1 = server
  local i s=$1
  for i in $(seq 1 100); do
    udp_listening "${PORT[$s]}" && return 0
    if ! kill -0 "${MAIN[$s]}" 2>/dev/null; then
      echo "${NAME[$s]} exited at start; its log:" >&2; tail -20 "${LOGF[$s]}" >&2; return 1
    fi
    sleep 0.1
  done
  echo "${NAME[$s]} did not listen on 127.0.0.1:${PORT[$s]} within 10 s; its log:" >&2; tail -20 "${LOGF[$s]}" >&2
  return 1
}

children_of() { # PIDs whose parent is $1 (one scan of /proc, at server start)
  local d line rest
  local -a f
  for d in /proc/[0-9]*; do
    read -r line 2>/dev/null <"$d/stat" || continue
    rest=${line##*) }
    read -r -a f <<<"$rest"
    if [ "${f[1]}" = "$1" ]; then echo "${d#/proc/}"; fi
  done
  return 0
}

rcvbuf_of() { # the kernel's receive buffer of the socket on port $1 (ss skmem rb)
  ss -uamn "sport = :$1" 2>/dev/null | sed -n 's/.*skmem:(r[0-9]*,rb\([0-9]*\),.*/\1/p' | head -1
}


parse_stat() {
  R_CREATED=0 R_OK=0 R_FAILED=0 R_RETRANS=0 R_ELAPSED_US=1 R_P50="-" R_P99="-" R_FAILS=""
  if [ ! -s "$1" ]; then R_FAILS="no SIPp statistics (see its stderr file)"; return 0; fi
  local out
  out=$(awk -F';' '
    NR == 1 { for (i = 1; i <= NF; i++) { col[$i] = i; name[i] = $i }; next }
    { last = $0 }
    END {
      n = split(last, v, ";")
      split(v[col["StartTime"]], s, "\t"); split(v[col["CurrentTime"]], c, "\t")
      el = int((c[3] - s[3]) * 1000000); if (el < 1) el = 1
      fails = ""
      for (k in col) if (k ~ /^Failed.*\(C\)$/ && k != "FailedCall(C)" && v[col[k]] > 0) fails = fails sprintf("%s=%s ", k, v[col[k]])
      for (k in col) if ((k == "OutOfCallMsgs(C)" || k == "DeadCallMsgs(C)" || k == "FatalErrors(C)") && v[col[k]] > 0) fails = fails sprintf("%s=%s ", k, v[col[k]])
      # percentiles from the response-time repartition (bucket bounds, ms)
      tot = 0; m = 0
      for (i = col["ResponseTimeRepartition1"] + 1; i <= n; i++) {
        if (name[i] !~ /^ResponseTimeRepartition1_/) break
        m++; cnt[m] = v[i] + 0; lab[m] = substr(name[i], 26); tot += cnt[m]
      }
      p50 = "-"; p99 = "-"; acc = 0
      for (i = 1; i <= m; i++) {
        acc += cnt[i]
        if (p50 == "-" && tot > 0 && acc >= 0.50 * tot) p50 = lab[i]
        if (p99 == "-" && tot > 0 && acc >= 0.99 * tot) p99 = lab[i]
      }
      gsub(/ /, "_", fails)
      printf "%d %d %d %d %d %s %s %s\n", v[col["TotalCallCreated"]], v[col["SuccessfulCall(C)"]], v[col["FailedCall(C)"]], v[col["Retransmissions(C)"]], el, p50, p99, (fails == "" ? "-" : fails)
    }' "$1")
  read -r R_CREATED R_OK R_FAILED R_RETRANS R_ELAPSED_US R_P50 R_P99 R_FAILS <<<"$out"
  if [ "$R_FAILS" = "-" ]; then R_FAILS=""; fi
  R_FAILS=${R_FAILS//_/ }
  return 0
}

stop_server() { # $1 = server
  local s=$1 pid i
  [ -n "${MAIN[$s]:-}" ] || return 0
  kill -TERM "${MAIN[$s]}" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "${MAIN[$s]}" 2>/dev/null || break
    sleep 0.1
  done
  for pid in ${PIDS[$s]:-}; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  wait "${MAIN[$s]}" 2>/dev/null || true
  unset "MAIN[$s]"
  PIDS[$s]=""
}
