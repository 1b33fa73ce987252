"""Lab files that more than one test reads (a unit test renders one, an
integration test deploys it)."""

#: a dual-stack firewall: rules for both families from one syntax, one for IPv6
#: only, subnets of one family, and a host whose input policy drops (ICMPv6
#: neighbour discovery must still come in); its service root is `www`
DUAL_FIREWALL = """
name: t-fw6
ipv6: {prefix: "2001:db8:6::/48"}
nodes:
  fw:
    kind: router
    firewall:
      forward:
        policy: drop
        rules:
          - {from: inside, action: accept}
          - {from: outside, to: web, proto: tcp, port: 80}
          - {from: outside, to: web, proto: icmp, family: 6}
          - {from: "2001:db8:99::/64", to: web, action: reject}
          - {from: "10.9.0.0/16", proto: udp}
          - {proto: tcp, port: 22, action: drop}
  pc1: {kind: host}
  web:
    kind: host
    services: [{type: http, root: www}]
    firewall: {input: {policy: drop, rules: [{proto: tcp, port: 80}, {proto: icmp}]}}
  ext: {kind: host}
lans:
  inside: {members: [fw, pc1, web]}
  outside: {members: [fw, ext]}
expect:
  - reach: {from: ext, to: web, proto: "tcp:80", family: both, wait: 5s}
  - reach: {from: ext, to: web, family: 6, name: IPv6 pings pass the firewall}
  - deny: {from: ext, to: web, family: 4, name: IPv4 pings do not}
  - deny: {from: ext, to: pc1, family: both}
  - reach: {from: pc1, to: ext, family: both}
  - reach: {from: pc1, to: web, family: both, name: web's input policy drop lets neighbour discovery in}
"""
