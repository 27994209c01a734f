#!/usr/bin/env bash
# Provenance (docs/formats.md, meta.ini): the revision is taken when the binary is BUILT.
#   test_provenance.sh RESBENCH SOURCE_DIR CMAKE
# 1. cmake/git_rev.cmake in a scratch git repository: a new commit gives the new revision, an
#    edit "-dirty", no change leaves the header untouched (incremental builds), no git "unknown".
# 2. this binary's --version names the checkout's HEAD (skipped when the source is not a git
#    checkout or git is missing).
# 3. a run's meta.ini has every build fact, non-empty, and the same git_rev as --version.
set -u
BIN=$1 SRC=$2 CMAKE=$3
W=$(mktemp -d /tmp/resbench-prov-XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
rev_of() { sed -n 's/^#define RB_GIT_REV "\(.*\)"$/\1/p' "$1"; }
gen() { "$CMAKE" -DSRC="$1" -DOUT="$2" ${3:+-DGIT=$3} -P "$SRC/cmake/git_rev.cmake" || fail "git_rev.cmake failed"; }

if command -v git >/dev/null; then
  R=$W/repo H=$W/rev.h
  G=(git -C "$R" -c user.name=t -c user.email=t@example.org)
  mkdir "$R" && git -C "$R" init -q && echo a > "$R/f.c" && "${G[@]}" add f.c && "${G[@]}" commit -qm one
  gen "$R" "$H"
  [ "$(rev_of "$H")" = "$(git -C "$R" rev-parse --short HEAD)" ] || fail "first commit: $(cat "$H")"
  touch -d '2000-01-01' "$H"
  gen "$R" "$H"
  [ "$(stat -c %Y "$H")" = "$(date -d 2000-01-01 +%s)" ] || fail "unchanged revision rewrote the header"
  echo b > "$R/f.c" && "${G[@]}" commit -qam two
  gen "$R" "$H"
  [ "$(rev_of "$H")" = "$(git -C "$R" rev-parse --short HEAD)" ] || fail "new commit not seen: $(cat "$H")"
  echo c > "$R/f.c"
  gen "$R" "$H"
  [ "$(rev_of "$H")" = "$(git -C "$R" rev-parse --short HEAD)-dirty" ] || fail "edit not seen: $(cat "$H")"
  echo new > "$R/untracked.txt"; git -C "$R" checkout -q f.c
  gen "$R" "$H"
  [ "$(rev_of "$H")" = "$(git -C "$R" rev-parse --short HEAD)" ] || fail "untracked file made it dirty"
fi
mkdir "$W/plain"
gen "$W/plain" "$W/plain.h"
[ "$(rev_of "$W/plain.h")" = unknown ] || fail "outside a checkout: $(cat "$W/plain.h")"
gen "$W/plain" "$W/nogit.h" /nonexistent/git
[ "$(rev_of "$W/nogit.h")" = unknown ] || fail "without git: $(cat "$W/nogit.h")"
echo "git_rev.cmake: new commit, edit, untracked file, no change, no checkout, no git: ok"

ver=$("$BIN" --version) || fail "--version failed"
vrev=$(sed -n 's/^git_rev = //p' <<<"$ver")
[ -n "$vrev" ] || fail "--version has no git_rev line: $ver"
if command -v git >/dev/null && head=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null); then
  [ "${vrev%-dirty}" = "$head" ] ||
    fail "--version says $vrev but the checkout is at $head (the binary is older than HEAD: rebuild)"
  echo "--version names HEAD $head"
else
  echo "--version vs HEAD: skipped ($SRC is not a git checkout or git is missing)"
fi

"$BIN" train steps=2 n_layer=1 d_model=16 n_head=2 seq_len=16 batch_size=2 eval_tokens=32 \
  threads=1 "out=$W/runs" run_id=r >/dev/null 2>"$W/err" || fail "train: $(cat "$W/err")"
M=$W/runs/r/meta.ini
for k in git_rev build_type build_flags compiler mpi blas blas_core threads host data; do
  grep -qE "^$k = [^ ]" "$M" || fail "meta.ini lacks a non-empty $k: $(cat "$M")"
done
[ "$(sed -n 's/^git_rev = //p' "$M")" = "$vrev" ] || fail "meta.ini's git_rev differs from --version"
for k in build_type compiler blas blas_core; do
  [ "$(sed -n "s/^$k = //p" "$M")" = "$(sed -n "s/^$k = //p" <<<"$ver")" ] || fail "$k differs"
done
echo "meta.ini: every build fact present and equal to --version's"
