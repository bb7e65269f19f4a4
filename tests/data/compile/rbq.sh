#!/bin/sh
# Ask the real rbldnsd (Debian rbldnsd 1.0) about a dataset: how the
# observations in docs/formats.md were made.  Files must be readable by
# nobody; -w is the working directory (RBQ_DIR, default /tmp/rbx).
#   rbq.sh "bl.ex:ip4set:file" "2.0.0.127.bl.ex@TXT" "1.0.0.127.bl.ex"
# usage: rbq.sh "spec spec" "name type" "name type" ...
specs="$1"; shift
chmod -R a+rX ${RBQ_DIR:-/tmp/rbx}
PORT=${PORT:-25781}
/usr/sbin/rbldnsd -n -u nobody -b 127.0.0.1/$PORT -w ${RBQ_DIR:-/tmp/rbx} $specs > ${TMPDIR:-/tmp}/rbq.log 2>&1 &
pid=$!
for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.1; kdig +short +time=1 +retry=0 @127.0.0.1 -p $PORT x.invalid A >/dev/null 2>&1 && break; done
for q in "$@"; do
  set -- $(echo "$q" | tr @ " ")
  printf '%s %s => ' "$1" "${2:-A}"
  kdig +noall +answer +header +time=1 +retry=0 @127.0.0.1 -p $PORT "$1" "${2:-A}" 2>&1 | awk '/status:/{for(i=1;i<=NF;i++) if($i=="status:") printf "%s ", $(i+1)} /^[^;]/ && NF {printf "| %s %s %s ", $2, $4, substr($0, index($0,$5))}' 
  echo
done
kill $pid 2>/dev/null; wait $pid 2>/dev/null
grep -v '^$' ${TMPDIR:-/tmp}/rbq.log | sed 's/^/LOG: /' | grep -iv 'rbldnsd version\|listening\|zones loaded\|^LOG: $' 
