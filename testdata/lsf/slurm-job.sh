#!/bin/bash
#SBATCH --job-name=slurm-test
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --mem=100M
#SBATCH --time=00:05:00
#SBATCH --output=slurm-%j.out
#SBATCH --partition=normal
#SBATCH --mail-type=NONE

# A Slurm batch script, unchanged.
echo "id=$SLURM_JOB_ID name=$SLURM_JOB_NAME nodes=$SLURM_JOB_NUM_NODES list=$SLURM_JOB_NODELIST"
echo "ntasks=$SLURM_NTASKS cpt=$SLURM_CPUS_PER_TASK procid=$SLURM_PROCID nodeid=$SLURM_NODEID"
echo "submitdir=$SLURM_SUBMIT_DIR partition=$SLURM_JOB_PARTITION"
echo "cpus=$(nproc)"
