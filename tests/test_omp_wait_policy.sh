#!/bin/sh
# ./darknet runs OpenMP with OMP_WAIT_POLICY=PASSIVE unless the user set the variable (docs/design.md, "OpenMP wait policy"): libgomp's own report (OMP_DISPLAY_ENV=verbose) shows a spin count of 0 without the variable, and the user's ACTIVE is kept.
D=${DARKNET:-./darknet}
T=tests/out/omp_wait_policy.$$
rm -rf "$T"; mkdir -p "$T"
# libgomp prints OMP_WAIT_POLICY = 'PASSIVE' for the unset default too; the spin count tells them apart
# (0 passive, 300000 default, 30000000000 active)
env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose "$D" seg3d keys > "$T/unset.out" 2> "$T/unset.err"
rc=$?
if ! grep -q "GOMP_SPINCOUNT = " "$T/unset.out" "$T/unset.err"; then
  echo "SKIP omp_wait_policy: the OpenMP runtime of this build prints no GOMP_SPINCOUNT for OMP_DISPLAY_ENV=verbose (not libgomp)"
  rm -rf "$T"; exit 0
fi
if [ $rc -eq 0 ] && grep -q "OMP_WAIT_POLICY = 'PASSIVE'" "$T/unset.out" "$T/unset.err" && grep -q "GOMP_SPINCOUNT = '0'" "$T/unset.out" "$T/unset.err"; then
  echo "PASS omp_wait_policy_passive_by_default"
else
  echo "FAIL omp_wait_policy_passive_by_default: rc=$rc, libgomp reports $(grep -h -E 'OMP_WAIT_POLICY|GOMP_SPINCOUNT' "$T/unset.out" "$T/unset.err" | tr -s ' ' | tr '\n' ' ')"
fi
env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=ACTIVE OMP_DISPLAY_ENV=verbose "$D" seg3d keys > "$T/active.out" 2> "$T/active.err"
rc=$?
if [ $rc -eq 0 ] && grep -q "OMP_WAIT_POLICY = 'ACTIVE'" "$T/active.out" "$T/active.err" && ! grep -q "GOMP_SPINCOUNT = '0'" "$T/active.out" "$T/active.err"; then
  echo "PASS omp_wait_policy_user_active_kept"
else
  echo "FAIL omp_wait_policy_user_active_kept: rc=$rc, libgomp reports $(grep -h -E 'OMP_WAIT_POLICY|GOMP_SPINCOUNT' "$T/active.out" "$T/active.err" | tr -s ' ' | tr '\n' ' ')"
fi
rm -rf "$T"
