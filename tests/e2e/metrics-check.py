#!/usr/bin/env python3
# tests/e2e/metrics-check.py: reads a Prometheus text format 0.0.4 page strictly and checks it against twin status --json.
#
# usage: metrics-check.py PAGE STATUS_JSON CLUSTER_JSON HOST FAMILY...
# Every line must be "# HELP name text", then "# TYPE name type" of the same name, then that
# family's samples `name{label="value",...} value`; each family once.  Then: every FAMILY is
# on the page; twin_vm_info has one sample per VM of STATUS_JSON with its state, primary and
# backup; quorum, votes and membership match CLUSTER_JSON (HOST is this host's name); the
# replication figures of each VM match its status "repl" where it has one.  Exit 0, or 1
# with each problem on stderr.
import json
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r"(?:NaN|[+-]Inf|[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
TYPES = ("counter", "gauge", "summary", "untyped", "histogram")


def unescape(s, quoted):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 1
            if i == len(s):
                raise ValueError("a trailing backslash")
            c = {"\\": "\\", "n": "\n"}.get(s[i]) or ('"' if quoted and s[i] == '"' else None)
            if c is None:
                raise ValueError("bad escape \\" + s[i])
        elif quoted and c == '"':
            raise ValueError("an unescaped quote")
        out.append(c)
        i += 1
    return "".join(out)


def parse_labels(s):
    labels, i = {}, 0
    while i < len(s):
        m = re.compile(r'(' + LABEL + r')="((?:[^"\\\n]|\\.)*)"(,|$)').match(s, i)
        if not m:
            raise ValueError("bad label at %r" % s[i:])
        if m.group(1) in labels:
            raise ValueError("label %s twice" % m.group(1))
        if m.group(1).startswith("__"):
            raise ValueError("reserved label %s" % m.group(1))
        labels[m.group(1)] = unescape(m.group(2), True)
        i = m.end()
        if m.group(3) == "" and i != len(s):
            raise ValueError("text after the last label")
    return labels


def parse(text):
    """Families {name: (type, help)} and samples [(name, labels, value)]; ValueError."""
    if text and not text.endswith("\n"):
        raise ValueError("no final newline")
    families, samples = {}, []
    family, ftype, help_of = None, None, None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        try:
            if line.startswith("# HELP "):
                m = re.fullmatch(r"# HELP (" + NAME + r") (.*)", line)
                if not m:
                    raise ValueError("bad HELP")
                if m.group(1) in families:
                    raise ValueError("family %s twice" % m.group(1))
                help_of = (m.group(1), unescape(m.group(2), False))
            elif line.startswith("# TYPE "):
                m = re.fullmatch(r"# TYPE (" + NAME + r") (" + "|".join(TYPES) + ")", line)
                if not m or not help_of or help_of[0] != m.group(1):
                    raise ValueError("a TYPE without its HELP just before")
                family, ftype = m.group(1), m.group(2)
                families[family] = (ftype, help_of[1])
                help_of = None
            elif line.startswith("#"):
                raise ValueError("a comment that is neither HELP nor TYPE")
            else:
                m = re.fullmatch(r"(" + NAME + r")(?:\{(.*)\})? (" + VALUE + ")", line)
                if not m:
                    raise ValueError("not `name{labels} value`")
                name, labels = m.group(1), parse_labels(m.group(2) or "")
                ok = name == family or (ftype == "summary" and name in (family + "_sum", family + "_count"))
                if not family or not ok:
                    raise ValueError("sample %s outside its family (%s)" % (name, family))
                if ftype == "summary" and name == family and "quantile" not in labels:
                    raise ValueError("a summary sample without a quantile")
                samples.append((name, labels, float(m.group(3))))
        except ValueError as e:
            raise ValueError("line %d: %s: %r" % (n, e, line))
    summary_totals(families, samples)
    return families, samples


def summary_totals(families, samples):
    """A summary's series (its labels but quantile): one _sum, one whole _count, quantiles."""
    series = {}
    for name, labels, value in samples:
        for fam, (ftype, _) in families.items():
            if ftype != "summary" or name not in (fam, fam + "_sum", fam + "_count"):
                continue
            key = (fam, tuple(sorted((k, v) for k, v in labels.items() if k != "quantile")))
            part = "q" if name == fam else name[len(fam):]
            series.setdefault(key, []).append(part)
            if part == "_count" and (value < 0 or value != int(value)):
                raise ValueError("%s %s: a _count that is not a whole number" % (name, labels))
            if part == "_sum" and value < 0:
                raise ValueError("%s %s: a negative _sum" % (name, labels))
    for (fam, labels), parts in series.items():
        if parts.count("_sum") != 1 or parts.count("_count") != 1 or "q" not in parts:
            raise ValueError("summary %s%s: needs quantiles, one _sum and one _count, has %s"
                             % (fam, dict(labels), parts))


def main():
    page_file, status_file, cluster_file, host = sys.argv[1:5]
    required = sys.argv[5:]
    problems = []
    try:
        families, samples = parse(open(page_file).read())
    except ValueError as e:
        sys.exit("metrics page: %s" % e)
    status = json.load(open(status_file))
    cluster = json.load(open(cluster_file))

    def find(name, **want):
        return [v for (n, l, v) in samples if n == name and all(l.get(k) == x for k, x in want.items())]

    def expect(what, got, want):
        if len(got) != 1 or not math.isclose(got[0], want, rel_tol=0, abs_tol=1e-12):
            problems.append("%s: %s on the page, %s expected" % (what, got, want))

    for f in required:
        if f not in families:
            problems.append("family %s is missing" % f)
    expect("twin_cluster_quorate", find("twin_cluster_quorate"), 1 if cluster["quorate"] else 0)
    expect("twin_cluster_votes", find("twin_cluster_votes"), cluster["votes"])
    expect("twin_cluster_expected_votes", find("twin_cluster_expected_votes"), cluster["expected_votes"])
    members = {m["node"] for m in cluster["members"]}
    for h in cluster["hosts"]:
        expect("twin_host_member{host=%s}" % h["name"], find("twin_host_member", host=h["name"]),
               1 if h["node"] in members else 0)
    if len(find("twin_vm_info")) != len(status):
        problems.append("twin_vm_info has %d samples for %d VMs" % (len(find("twin_vm_info")), len(status)))
    for vm in status:
        expect("twin_vm_info{vm=%s}" % vm["name"],
               find("twin_vm_info", vm=vm["name"], state=vm["state"], primary=vm["primary"] or "",
                    backup=vm["backup"] or "", role="primary" if vm["primary"] == host else
                    "backup" if vm["backup"] == host else "none"), 1)
        expect("twin_vm_failovers_total{vm=%s}" % vm["name"],
               find("twin_vm_failovers_total", vm=vm["name"]), vm["failovers"])
        repl = vm.get("repl")
        if not repl or vm["primary"] != host:
            if find("twin_vm_epochs_total", vm=vm["name"]):
                problems.append("%s: replication figures without a primary here" % vm["name"])
            continue
        # The page and the status are separate requests: counters only grow in between.
        for fam, key in (("twin_vm_epochs_total", "epochs"), ("twin_vm_sent_bytes_total", "bytes_total")):
            got = find(fam, vm=vm["name"])
            if len(got) != 1 or got[0] < repl[key]:
                problems.append("%s{vm=%s}: %s on the page, at least %s expected" % (fam, vm["name"], got, repl[key]))
        for fam in ("twin_vm_pause_seconds", "twin_vm_ack_latency_seconds", "twin_vm_held_output_bytes"):
            if not find(fam, vm=vm["name"]):
                problems.append("%s{vm=%s}: no sample" % (fam, vm["name"]))
        # One pause per epoch: the summary's _count follows the epochs (page after status).
        got = find("twin_vm_pause_seconds_count", vm=vm["name"])
        if len(got) != 1 or got[0] < repl["pause_ns"]["count"]:
            problems.append("twin_vm_pause_seconds_count{vm=%s}: %s on the page, at least %s expected"
                            % (vm["name"], got, repl["pause_ns"]["count"]))
    for p in problems:
        print(p, file=sys.stderr)
    print("%d families, %d samples" % (len(families), len(samples)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
