"""Model: what a user may write in a lab file, and reading it.

    base      the strict base model; IPv4 address parsers with messages a student can act on
    units     durations, percentages, rates (one parser each)
    common    what the plan shares with the lab file: default limits and cost, the impairment type
    specs     services, firewalls, NAT, impairments, routing-daemon options
    topology  nodes, interfaces, links, LANs, pools: the lab file as a whole
    expect    the expectation language of the `expect:` section
    load      YAML text -> ParsedLab (line numbers, every problem of form)
    schema    the JSON Schema of the lab file, made from these models
"""
