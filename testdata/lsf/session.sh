#!/bin/sh
# A typical LSF user's session, as a script: submit a job script with
# #BSUB directives, parse the job id from bsub's message, poll bjobs,
# kill a job, look at the hosts, drain and resume one. Exits non-zero,
# saying why, on the first surprise. Needs NODE (a node name).
set -u
fail() { echo "session: $*" >&2; exit 1; }

cat > job.sh <<'JOB'
#!/bin/sh
#BSUB -J session-job
#BSUB -n 1
#BSUB -o session.%J.out
#BSUB -W 5
echo "job $LSB_JOBID index $LSB_JOBINDEX name $LSB_JOBNAME queue $LSB_QUEUE on $LSB_HOSTS"
JOB

out=$(bsub < job.sh) || fail "bsub: $out"
id=$(echo "$out" | sed -n 's/^Job <\([0-9]*\)> is submitted to .*queue <.*>\.$/\1/p')
[ -n "$id" ] || fail "no job id in: $out"

# Poll until it is DONE (bjobs -noheader JOBID shows finished jobs too).
i=0
while :; do
	stat=$(bjobs -noheader "$id" | awk '{print $3}')
	[ "$stat" = DONE ] && break
	[ "$stat" = EXIT ] && fail "job $id exited"
	i=$((i + 1)); [ $i -lt 300 ] || fail "job $id still $stat"
	sleep 0.1
done
grep -q "^job $id index 0 name session-job queue normal on $NODE\$" "session.$id.out" || fail "output: $(cat session.$id.out)"

# A long job, killed.
long=$(bsub -J long -o /dev/null sleep 300 | sed 's/^Job <\([0-9]*\)>.*/\1/')
bjobs -noheader -o "jobid job_name" | grep -q "^$long *long\$" || fail "bjobs does not list $long"
bkill "$long" | grep -q "^Job <$long> is being terminated\$" || fail "bkill $long"
i=0
until [ "$(bjobs -noheader -o stat "$long")" = EXIT ]; do
	i=$((i + 1)); [ $i -lt 300 ] || fail "killed job $long not EXIT"
	sleep 0.1
done

# The hosts, a drain and a resume.
bhosts | grep -q "^$NODE  *ok " || fail "bhosts: $(bhosts)"
badmin hclose -C "swap disk" "$NODE" | grep -q "^Close <$NODE> ...... done\$" || fail "hclose"
bhosts "$NODE" | grep -q "^$NODE  *closed_Adm " || fail "closed host: $(bhosts)"
bhosts -l "$NODE" | grep -q 'ADMIN ACTION COMMENT: "swap disk"' || fail "bhosts -l: $(bhosts -l $NODE)"
badmin hopen "$NODE" | grep -q "^Open <$NODE> ...... done\$" || fail "hopen"
bhosts "$NODE" | grep -q "^$NODE  *ok " || fail "reopened host: $(bhosts)"
bjobs 2>&1 | grep -q "^No unfinished job found\$" || fail "bjobs with nothing left: $(bjobs 2>&1)"
echo "session ok"
