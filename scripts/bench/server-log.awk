# Summarises a server log for scripts/bench-register.sh: one line per kind
# of message with its count.
#   Switchboard (pino JSON): level, code, reason and msg of each line.
#   Kamailio (-E): the WARNING/ERROR/CRITICAL/ALERT lines, process prefix and
#   numbers removed; the start-up banner is skipped.
function field(name,    m, v) {
  if (match($0, "\"" name "\":(\"[^\"]*\"|[0-9]+)")) {
    v = substr($0, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
    gsub(/"/, "", v)
    return v
  }
  return ""
}
/^\{/ {
  lv = field("level"); lvn = (lv == 30 ? "info" : lv == 40 ? "warn" : lv == 50 ? "error" : lv == 60 ? "fatal" : lv)
  k = lvn
  c = field("code"); if (c != "") k = k " " c
  r = field("reason"); if (r != "") k = k " reason=" r
  k = k ": " field("msg")
  n[k]++
  next
}
/(WARNING|ERROR|CRITICAL|ALERT):/ {
  line = $0
  sub(/^ *[0-9]+\([0-9]+\) /, "", line)
  gsub(/[0-9]+/, "N", line)
  n[substr(line, 1, 150)]++
}
END { for (k in n) printf "%7d  %s\n", n[k], k }
