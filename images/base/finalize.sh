#!/bin/sh
# Runs inside the freshly bootstrapped root file system (chroot), before it is
# imported as the base image. Keep it small: everything here is in every node.
set -eu

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/info/*

# A prompt that says which node you are on.
cat >> /etc/bash.bashrc <<'RC'
PS1='\u@\h:\w\$ '
alias ll='ls -l'
RC

# Let a person shelling in find the lab's own tools.
mkdir -p /etc/labnet /var/log/labnet /opt/labnet
