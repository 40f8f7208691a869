# Summarises a SIPp -trace_err file (scripts/bench-register.sh): one line per
# kind of event with its count, and the status line and CSeq of the message
# concerned when there is one. Feed it the file with a newline put before
# every timestamp (SIPp does not always end an event with one):
#   sed -E 's/([0-9]{4}-[0-9]{2}-[0-9]{2}\t[0-9:.]+\t[0-9.]+: )/\n\1/g' errors.txt | awk -f sipp-errors.awk
/^The following events occurred:/ { next }
/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]\t/ || /^'[0-9][0-9][0-9][0-9]-/ {
  flush()
  line = $0
  sub(/^'/, "", line)
  sub(/^[^\t]*\t[^\t]*\t[0-9.]*: /, "", line)
  kind = line
  if (kind ~ /^Aborting call on unexpected message/) {
    want = kind; sub(/.*while expecting '/, "", want); sub(/'.*/, "", want)
    kind = "unexpected message while expecting " want ":"
  } else if (kind ~ /^Dead call/) {
    kind = "message for a finished call:"
  } else {
    gsub(/[0-9]+/, "N", kind); sub(/, received.*/, "", kind)
  }
  if (line ~ /received 'SIP\/2\.0 /) { st = line; sub(/.*received '/, "", st); status = st } else status = ""
  cseq = ""; pending = 1
  next
}
pending && /^CSeq:/ { cseq = $0 }
END { flush(); for (k in n) printf "%7d  %s\n", n[k], k }
function flush() {
  if (!pending) return
  k = kind (status != "" ? " " status : "") (cseq != "" ? " (" cseq ")" : "")
  n[k]++
  pending = 0
}
