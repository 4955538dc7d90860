#!/usr/bin/env bash
# expect-exit.sh CODE CMD...: runs CMD, passes its stderr/stdout through, and
# succeeds only when CMD exits with CODE (lit's `not` accepts any non-zero).
want=$1
shift
"$@"
got=$?
if [ "$got" -ne "$want" ]; then
  echo "expect-exit: '$*' exited $got, expected $want" >&2
  exit 1
fi
exit 0
