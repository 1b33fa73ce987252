#!/bin/sh
# Runs in the chroot of the bench-only FRR image (bench/bench_convergence_frr.py)
# before it is imported. Same as images/base/finalize.sh, plus FRR set up to be
# started by hand (no init system in a node): zebra + ospfd, nothing else.
set -eu

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/info/*

cat >> /etc/bash.bashrc <<'RC'
PS1='\u@\h:\w\$ '
alias ll='ls -l'
RC

mkdir -p /etc/labnet /var/log/labnet /opt/labnet

# FRR: only zebra, ospfd (and staticd, which frrinit.sh always wants) run.
sed -i -e 's/^ospfd=no/ospfd=yes/' -e 's/^bgpd=yes/bgpd=no/' /etc/frr/daemons
# An empty integrated config; the bench writes the real one per router.
printf 'frr defaults traditional\nservice integrated-vtysh-config\n' > /etc/frr/frr.conf
chown frr:frr /etc/frr/frr.conf
mkdir -p /var/run/frr && chown frr:frr /var/run/frr
