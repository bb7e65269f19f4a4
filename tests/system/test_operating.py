"""tests/system/test_operating.py - what an operator installs and reads:
sample configs, systemd units, `make install`, `make deb`, man pages, and
docs/configuration.md.

- every sample config in dist/conf/ passes its daemon's --check-config;
- docs/configuration.md names every key the parsers accept (resolver: the
  keys --dump-config prints; publisher and follower: their option tables in
  the source, see that page for what this does not catch);
- scripts/install.sh (the body of `make install`) into a DESTDIR installs
  the binaries, man pages, units with real paths, the sysctl file and the
  samples, and never overwrites a config that exists; --uninstall removes
  what it installed and keeps /etc;
- the units pass `systemd-analyze verify` with no warning, and carry the
  settings issue 7 asks for;
- `make deb`'s script builds a package dpkg-deb can read;
- the man pages render without warnings and mention every option of the
  daemons' --help.
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT, binpath, run

CONF = ROOT / "dist" / "conf"
UNITS = ROOT / "dist" / "systemd"
CONFIG_MD = ROOT / "docs" / "configuration.md"

SAMPLES = {
    "resolver.conf": "resolver", "resolver-node.conf": "resolver",
    "resolver-grid.conf": "resolver", "resolver-noc.conf": "resolver",
    "publisher.conf": "publisher", "relay.conf": "relay", "follower.conf": "follower",
}


def have_user(name):
    try:
        import pwd
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_config_passes_check_config(name):
    path = CONF / name
    kind = SAMPLES[name]
    if kind == "resolver":
        cp = run([binpath("gridns-resolver"), "--check-config", "-c", path], timeout=30)
        if cp.returncode != 0 and not have_user("gridns"):
            # The samples name the `gridns` user, which `make install`
            # creates; on a build host without it that is the only error.
            errs = [ln for ln in (cp.stdout + cp.stderr).splitlines() if ":" in ln and
                    "refusing to start" not in ln]
            assert all('user "gridns" does not exist' in ln for ln in errs), errs
            cp = run([binpath("gridns-resolver"), "--check-config", "-c", path,
                      "--user", "nobody"], timeout=30)
    else:
        cp = run([binpath("gridns-zonesync"), kind, "-c", path, "--check-config"], timeout=30)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_sample_set_covers_every_daemon():
    assert set(SAMPLES) == {p.name for p in CONF.glob("*.conf")}


# ---- docs/configuration.md ------------------------------------------------

def dump_keys(text):
    """Dotted key names from `gridns-resolver --dump-config` output."""
    keys, stack = set(), []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("}") or line.startswith(")"):
            if stack:
                stack.pop()
            continue
        m = re.match(r"([a-z][a-z0-9-]*)\s*=\s*([{(])?", line)
        if m and not (stack and stack[-1] == "tiers[]"):
            if m.group(2) == "{":
                stack.append(m.group(1))
            elif m.group(2) == "(":
                keys.add(m.group(1))
                stack.append(m.group(1) + "[]")
                continue
            else:
                keys.add(".".join(stack + [m.group(1)]))
        if stack and stack[-1] == "tiers[]":
            for k in re.findall(r"([a-z][a-z0-9-]*)\s*=", line):
                keys.add("tiers[]." + k)
            if line.startswith(");") or line.endswith(");"):
                stack.pop()
    return keys


def table_defaults(path, kind):
    src = (ROOT / "zonesync" / path).read_text()
    return dict(re.findall(r'\{\s*"([a-z][a-z0-9.-]*)",\s*%s_[A-Z]+,[^"]*?"([^"]*)"' % kind, src))


def publisher_keys():
    src = (ROOT / "zonesync" / "pub_conf.c").read_text()
    keys = set(re.findall(r'\{\s*"([a-z][a-z0-9.-]*)",\s*PC_[A-Z]+', src))
    zone = set(re.findall(r'!strcmp\(n,\s*"([a-z-]+)"\)', src))
    keys |= {"zones[]." + z for z in zone} | {"keys", "zones"}
    tsig = (ROOT / "zonesync" / "tsig.c").read_text()
    keys |= {"keys[]." + k for k in re.findall(r'strcmp\(fn,\s*"([a-z-]+)"\)', tsig)}
    return keys


def follower_keys():
    src = (ROOT / "zonesync" / "fol_conf.c").read_text()
    glob_ = set(re.findall(r'\{\s*"([a-z][a-z0-9.-]*)",\s*O_[A-Z]+,[^}]*\bG\(', src))
    zone = set(re.findall(r'\{\s*"([a-z][a-z0-9.-]*)",\s*O_[A-Z]+,[^}]*\bZ\(', src))
    extras = re.findall(r'extra\[\]\s*=\s*\{([^}]*)\}', src)
    assert len(extras) == 2, "fol_conf.c changed shape: update this test"
    zone |= set(re.findall(r'"([a-z-]+)"', extras[0]))
    glob_ |= set(re.findall(r'"([a-z-]+)"', extras[1]))
    assert glob_ and zone
    return glob_ | {"zones[]." + z for z in zone}


def dump_values(text):
    """{dotted key: value text} for the leaf keys of a --dump-config output
    (tiers: the first tier's values)."""
    vals, stack = {}, []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("}") or line.startswith(")"):
            if stack:
                stack.pop()
            continue
        if stack and stack[-1] == "tiers[]":
            for k, v in re.findall(r'([a-z][a-z0-9-]*)\s*=\s*("[^"]*"|\[[^\]]*\]|[^;]+);', line):
                vals.setdefault("tiers[]." + k, v.strip())
            continue
        m = re.match(r"([a-z][a-z0-9-]*)\s*=\s*(.*?);?$", line)
        if not m:
            continue
        if m.group(2) == "{":
            stack.append(m.group(1))
        elif m.group(2) == "(":
            stack.append(m.group(1) + "[]")
        else:
            vals[".".join(stack + [m.group(1)])] = m.group(2).strip()
    return vals


def doc_defaults(sec):
    """{key: first backticked token of the default column} from a section's
    tables; keys whose default is written in words ((required), none) are left out."""
    out = {}
    for line in sec.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        m = re.match(r"`([^`]*)`", cells[1])
        if m and cells[1].startswith("`"):
            for k in re.findall(r"`([^`]*)`", cells[0]):
                out[k] = m.group(1)
    return out


def norm(v):
    return re.sub(r"\s+", "", v).strip('"')


def section(text, title_start):
    i = text.index("\n## " + title_start)
    j = text.find("\n## ", i + 4)
    return text[i:j if j > 0 else len(text)]


def documented(sec):
    return set(re.findall(r"`([a-z][a-z0-9.\[\]-]*)`", sec))


def test_configuration_md_lists_every_resolver_key(workdir):
    conf = workdir / "r.conf"
    conf.write_text('snapshot = "/nonexistent";\n'
                    'tiers = ( { name = "grid"; servers = [ "127.0.0.1@53" ]; } );\n')
    cp = run([binpath("gridns-resolver"), "--dump-config", "-c", conf], timeout=30)
    assert cp.returncode == 0, cp.stderr
    keys = dump_keys(cp.stdout)
    assert {"snapshot", "udp.rcvbuf", "health.tier-canary", "tiers[].backoff-max-ms"} <= keys
    doc = documented(section(CONFIG_MD.read_text(), "gridns-resolver"))
    missing = sorted(keys - doc)
    assert not missing, "resolver keys missing from docs/configuration.md: %s" % missing
    # and the documented defaults are the parser's (the tier's name and
    # servers, the snapshot and the CPU-dependent worker count aside)
    vals = dump_values(cp.stdout)
    defaults = doc_defaults(section(CONFIG_MD.read_text(), "gridns-resolver"))
    wrong = {k: (defaults[k], v) for k, v in vals.items()
             if k in defaults and k not in ("workers", "snapshot") and norm(defaults[k]) != norm(v)}
    assert not wrong, "docs/configuration.md defaults differ from --dump-config: %s" % wrong
    assert len([k for k in vals if k in defaults]) >= 35


def test_configuration_md_lists_every_publisher_key():
    keys = publisher_keys()
    assert {"db", "transfers.max", "zones[].allow", "keys[].secret"} <= keys
    doc = documented(section(CONFIG_MD.read_text(), "gridns-zonesync publisher"))
    missing = sorted(keys - doc)
    assert not missing, "publisher keys missing from docs/configuration.md: %s" % missing
    defaults = doc_defaults(section(CONFIG_MD.read_text(), "gridns-zonesync publisher"))
    table = table_defaults("pub_conf.c", "PC")
    assert len(table) >= 20
    wrong = {k: (defaults.get(k), v) for k, v in table.items()
             if k != "db" and norm(defaults.get(k, "?")) != norm(v)}
    assert not wrong, "publisher defaults in docs/configuration.md differ from pub_conf.c: %s" % wrong


def test_configuration_md_lists_every_follower_key():
    keys = follower_keys()
    assert {"snapshot", "xfr-timeout", "zones[].primaries", "publisher"} <= keys
    doc = documented(section(CONFIG_MD.read_text(), "gridns-zonesync follower"))
    missing = sorted(keys - doc)
    assert not missing, "follower keys missing from docs/configuration.md: %s" % missing
    defaults = doc_defaults(section(CONFIG_MD.read_text(), "gridns-zonesync follower"))
    src = (ROOT / "zonesync" / "fol_conf.c").read_text()
    table = {}
    for name, default, where in re.findall(
            r'\{\s*"([a-z][a-z0-9.-]*)",\s*O_[A-Z]+,[^"]*?(NULL|"[^"]*"),\s*([GZ])\(', src):
        if default != "NULL":
            table[("zones[]." if where == "Z" else "") + name] = default.strip('"')
    assert len(table) >= 12
    # state-file's "" means "<snapshot>/follower.state", which the page says
    wrong = {k: (defaults.get(k), v) for k, v in table.items()
             if k != "state-file" and norm(defaults.get(k, "?")) != norm(v)}
    assert not wrong, "follower defaults in docs/configuration.md differ from fol_conf.c: %s" % wrong


# ---- install ----------------------------------------------------------------

def install(destdir, *extra, prefix="/usr/local"):
    env = dict(os.environ, DESTDIR=str(destdir), PREFIX=prefix)
    return subprocess.run(["sh", str(ROOT / "scripts" / "install.sh")] + list(extra),
                          capture_output=True, text=True, timeout=120, env=env)


def test_install_into_destdir(workdir):
    binpath("gridns-resolver")
    dest = workdir / "stage"
    cp = install(dest, str(BUILD))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "no user, state directory" in cp.stdout  # DESTDIR: never touches the host
    p = "/usr/local"
    for rel in ("bin/gridns-resolver", "bin/gridns-zonesync", "bin/gridns",
                "share/man/man8/gridns-resolver.8", "share/man/man8/gridns-zonesync.8",
                "share/man/man1/gridns.1", "lib/sysctl.d/60-gridns.conf",
                "share/gridns/examples/resolver-node.conf",
                "share/doc/gridns/monitoring/alerts.yml",
                "share/doc/gridns/monitoring/runbooks/GridnsTierDown.md"):
        assert (dest / p.lstrip("/") / rel).exists(), rel
    assert os.access(dest / "usr/local/bin/gridns-resolver", os.X_OK)
    for u in ("gridns-resolver", "gridns-publisher", "gridns-relay", "gridns-follower"):
        text = (dest / "usr/local/lib/systemd/system" / (u + ".service")).read_text()
        assert "@BINDIR@" not in text
        assert "ExecStart=/usr/local/bin/gridns-" in text
    for c in ("resolver", "publisher", "relay", "follower"):
        f = dest / "etc/gridns" / (c + ".conf")
        assert f.read_text() == (CONF / (c + ".conf")).read_text()
        assert (f.stat().st_mode & 0o777) == 0o640
    # the installed binary runs and checks the installed sample
    cp = run([dest / "usr/local/bin/gridns-zonesync", "follower", "-c",
              dest / "etc/gridns/follower.conf", "--check-config"], timeout=30)
    assert cp.returncode == 0, cp.stderr
    # a second install keeps the operator's config
    mine = dest / "etc/gridns/resolver.conf"
    mine.write_text("# mine\n")
    cp = install(dest, str(BUILD))
    assert cp.returncode == 0, cp.stderr
    assert mine.read_text() == "# mine\n"
    assert "kept existing" in cp.stdout
    # uninstall removes programs and units, keeps /etc
    cp = install(dest, "--uninstall")
    assert cp.returncode == 0, cp.stderr
    assert not (dest / "usr/local/bin/gridns-resolver").exists()
    assert not (dest / "usr/local/lib/systemd/system/gridns-resolver.service").exists()
    assert mine.exists()


def test_make_install_target_runs_the_install_script(workdir):
    cp = subprocess.run(["make", "-n", "-C", str(ROOT), "install", "BUILD=%s" % BUILD,
                         "DESTDIR=%s" % (workdir / "d"), "PREFIX=/opt/gridns"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert "scripts/install.sh" in cp.stdout
    assert 'DESTDIR="%s"' % (workdir / "d") in cp.stdout and 'PREFIX="/opt/gridns"' in cp.stdout


def test_deb_package(workdir):
    if not shutil.which("dpkg-deb"):
        pytest.fail("dpkg-deb is not installed", pytrace=False)
    binpath("gridns-resolver")
    env = dict(os.environ, DEBOUT=str(workdir / "deb"))
    cp = subprocess.run(["sh", str(ROOT / "scripts" / "mkdeb.sh"), str(BUILD)],
                        capture_output=True, text=True, timeout=180, env=env)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    deb = cp.stdout.strip().splitlines()[-1]
    info = run(["dpkg-deb", "-f", deb, "Package", "Depends"], timeout=30).stdout
    assert "gridns" in info and "libunbound" in info and "liblmdb" in info
    contents = run(["dpkg-deb", "-c", deb], timeout=30).stdout
    for f in ("./usr/bin/gridns-resolver", "./usr/lib/systemd/system/gridns-resolver.service",
              "./etc/gridns/resolver.conf", "./usr/share/man/man8/gridns-resolver.8"):
        assert f in contents, f
    ctl = run(["dpkg-deb", "-I", deb, "conffiles"], timeout=30).stdout
    assert "/etc/gridns/resolver.conf" in ctl


# ---- systemd units ---------------------------------------------------------------

def test_units_verify_and_are_hardened(workdir):
    sa = shutil.which("systemd-analyze")
    if not sa:
        pytest.fail("systemd-analyze is not installed", pytrace=False)
    bindir = os.path.dirname(binpath("gridns-resolver"))
    units = []
    for u in sorted(UNITS.glob("*.service")):
        text = u.read_text()
        for want in ("User=gridns", "ProtectSystem=strict", "ReadWritePaths=/var/lib/gridns",
                     "Restart=on-failure", "NoNewPrivileges=yes", "LimitNOFILE="):
            assert want in text, "%s lacks %s" % (u.name, want)
        dst = workdir / u.name
        dst.write_text(text.replace("@BINDIR@", bindir))
        units.append(str(dst))
    assert {os.path.basename(u) for u in units} == {
        "gridns-resolver.service", "gridns-publisher.service", "gridns-relay.service",
        "gridns-follower.service"}
    res = (UNITS / "gridns-resolver.service").read_text()
    assert "Type=notify" in res and re.search(r"^WatchdogSec=\d+", res, re.M)
    cp = subprocess.run([sa, "verify", "--man=no"] + units, capture_output=True, text=True,
                        timeout=120, cwd=str(workdir))
    assert cp.returncode == 0 and not cp.stderr.strip(), cp.stdout + cp.stderr


def test_unit_command_lines_run(workdir):
    """Each unit's ExecStartPre (--check-config) runs as written, with the
    binaries of this build and the sample config in place of /etc/gridns."""
    bindir = os.path.dirname(binpath("gridns-resolver"))
    for u in sorted(UNITS.glob("*.service")):
        text = u.read_text().replace("@BINDIR@", bindir)
        pre = re.findall(r"^ExecStartPre=(.*)$", text, re.M)
        start = re.findall(r"^ExecStart=(.*)$", text, re.M)
        assert len(pre) == 1 and len(start) == 1, u.name
        assert "--check-config" in pre[0]
        # ExecStart is ExecStartPre without --check-config
        assert start[0].split() == [w for w in pre[0].split() if w != "--check-config"], u.name
        argv = []
        for w in pre[0].split():
            m = re.match(r"/etc/gridns/(.*\.conf)$", w)
            argv.append(str(CONF / m.group(1)) if m else w)
        if "gridns-resolver" in argv[0] and not have_user("gridns"):
            argv += ["--user", "nobody"]
        cp = run(argv, timeout=30)
        assert cp.returncode == 0, "%s: %s\n%s" % (u.name, " ".join(argv), cp.stdout + cp.stderr)


# ---- man pages --------------------------------------------------------------------

@pytest.mark.parametrize("page", ["gridns-resolver.8", "gridns-zonesync.8", "gridns.1"])
def test_man_page_renders_without_warnings(page):
    cp = subprocess.run(["man", "--warnings", "-l", str(ROOT / "man" / page)],
                        capture_output=True, text=True, timeout=60,
                        env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))
    assert cp.returncode == 0, cp.stderr
    assert not cp.stderr.strip(), cp.stderr
    assert "SYNOPSIS" in cp.stdout and "SEE ALSO" in cp.stdout


def test_man_pages_cover_the_options():
    res = run([binpath("gridns-resolver"), "--help"], timeout=30)
    page = (ROOT / "man" / "gridns-resolver.8").read_text().replace("\\-", "-")
    opts = set(re.findall(r"(--[a-z][a-z-]+)", res.stdout + res.stderr)) - {"--fault"}
    assert opts
    missing = sorted(o for o in opts if o not in page)
    assert not missing, "gridns-resolver.8 lacks %s" % missing
    zs = run([binpath("gridns-zonesync"), "--help"], timeout=30)
    page = (ROOT / "man" / "gridns-zonesync.8").read_text().replace("\\-", "-")
    cmds = set(re.findall(r"^  ([a-z]+) ", zs.stdout + zs.stderr, re.M))
    assert {"load", "import", "publisher", "follower", "relay"} <= cmds
    missing = sorted(c for c in cmds if ('"%s ' % c) not in page and (".B %s" % c) not in page
                     and ("BI \"%s " % c) not in page)
    assert not missing, "gridns-zonesync.8 lacks %s" % missing
    tl = run([binpath("gridns"), "--help"], timeout=30)
    page = (ROOT / "man" / "gridns.1").read_text()
    cmds = set(re.findall(r"^  ([a-z]+) ", tl.stdout + tl.stderr, re.M))
    assert cmds >= {"query", "check", "blcheck", "latency"}
    assert all((".B %s" % c) in page for c in cmds), cmds


# ---- docs/quickstart.md, followed with the installed files -------------------------

def test_quickstart_steps_with_the_installed_tree(workdir, daemons):
    """Steps 2-5 of docs/quickstart.md with the binaries and the sample
    resolver.conf that scripts/install.sh put into a DESTDIR: the list from
    the page itself, `load`, the resolver with the installed config (only
    snapshot, listen, metrics and user overridden: no root, no port 53 in a
    test), then the page's kdig, `gridns query`, `gridns check` and /health."""
    import pwd
    import urllib.request
    from conftest import Daemon, free_port, wait_dns
    from ops_stack import wait_for
    dest = workdir / "stage"
    cp = install(dest, str(BUILD))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    bindir = dest / "usr/local/bin"
    page = (ROOT / "docs" / "quickstart.md").read_text()
    m = re.search(r"<<'LIST'\n(.*?)\nLIST\n", page, re.S)
    assert m, "docs/quickstart.md lost its example list"
    lst = workdir / "bl.example.com"
    lst.write_text(m.group(1) + "\n")
    snap = workdir / "snapshot"
    cp = run([bindir / "gridns-zonesync", "load", "--snapshot", snap,
              "bl.example.com:ip4set:%s" % lst], timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert "0 bad line(s)" in cp.stderr
    port, mport = free_port(), free_port()
    user = "nobody" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
    r = Daemon("gridns-resolver(installed)",
               [bindir / "gridns-resolver", "-c", dest / "etc/gridns/resolver.conf",
                "--snapshot", snap, "--listen", "127.0.0.1:%d" % port,
                "--metrics", "127.0.0.1:%d" % mport, "--user", user], workdir)
    daemons.append(r)
    wait_dns(r, port, "2.0.0.127.bl.example.com")

    def kdig(*args):
        return run(["kdig", "@127.0.0.1", "-p", str(port)] + list(args), timeout=30).stdout
    assert kdig("2.0.0.127.bl.example.com", "A", "+short").strip() == "127.0.0.2"
    assert kdig("7.100.51.198.bl.example.com", "TXT", "+short").strip() == \
        '"Open proxy 198.51.100.7"'
    assert "status: NXDOMAIN" in kdig("1.0.0.127.bl.example.com", "A")
    q = run([bindir / "gridns", "query", "--server", "127.0.0.1:%d" % port, "198.51.100.7",
             "bl.example.com"], timeout=30)
    assert q.returncode == 1 and "listed" in q.stdout, q.stdout + q.stderr
    c = run([bindir / "gridns", "check", "--server", "127.0.0.1:%d" % port, "--zone",
             "bl.example.com"], timeout=30)
    assert c.returncode == 0 and c.stdout.startswith("GRIDNS OK"), c.stdout

    def healthy():
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % mport, timeout=3) as h:
                return b'"healthy":true' in h.read()
        except OSError:
            return False
    wait_for(healthy, 30, "/health to say healthy", r)


def test_root_install_creates_user_and_state_dir(workdir):
    """The root path of scripts/install.sh (empty DESTDIR): the gridns system
    user and group, the state directory and the config group, and a second
    run that changes nothing.  Run inside a private mount namespace over a
    copy of /etc, so the host's /etc/passwd is never touched; binaries go to
    a temporary PREFIX and the state directory to a temporary STATEDIR."""
    if os.getuid() != 0:
        pytest.skip("needs root (user creation)")
    if not shutil.which("unshare") or \
            subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespaces here (unshare -m)")
    binpath("gridns-resolver")
    script = r"""
set -eu
cp -a /etc "$T/etc"
mount --bind "$T/etc" /etc
rm -rf /etc/gridns
getent passwd gridns >/dev/null && userdel gridns || true
getent group gridns >/dev/null && groupdel gridns || true
DESTDIR= PREFIX="$T/prefix" STATEDIR="$T/state" UNITDIR="$T/units" sh "$ROOT/scripts/install.sh" "$BUILD"
echo "USER $(getent passwd gridns | cut -d: -f1,6,7)"
echo "STATE $(stat -c '%U:%G %a' "$T/state")"
echo "CONF $(stat -c '%U:%G %a' /etc/gridns/resolver.conf)"
echo "# mine" > /etc/gridns/follower.conf
DESTDIR= PREFIX="$T/prefix" STATEDIR="$T/state" UNITDIR="$T/units" sh "$ROOT/scripts/install.sh" "$BUILD"
echo "KEPT $(cat /etc/gridns/follower.conf)"
echo "USERS $(getent passwd | grep -c '^gridns:')"
"""
    had_user = subprocess.run(["getent", "passwd", "gridns"], capture_output=True).returncode == 0
    env = dict(os.environ, T=str(workdir), ROOT=str(ROOT), BUILD=str(BUILD))
    cp = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                        timeout=120, env=env)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    out = cp.stdout
    assert "created system user gridns" in out
    assert re.search(r"^USER gridns:%s:/usr/sbin/nologin$" % re.escape(str(workdir / "state")),
                     out, re.M), out
    assert "STATE gridns:gridns 750" in out
    assert "CONF root:gridns 640" in out
    assert "KEPT # mine" in out and "USERS 1" in out
    # the host's /etc is as it was
    has_user = subprocess.run(["getent", "passwd", "gridns"], capture_output=True).returncode == 0
    assert has_user == had_user
