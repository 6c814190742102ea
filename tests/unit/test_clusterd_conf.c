/* Unit tests for clusterd.conf's parser (clusterd/conf.c): every error names file:line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "conf.h"
#include "suites.h"

static char err[512];
static struct clusterd_conf cfg;

#define BASE	     "[cluster]\nname = twin-lab\n[host]\nname = h1\nreplication_addr = 198.18.1.1\n"
#define TLS_INSECURE "[tls]\ninsecure = yes\n"

static int parse(const char *text)
{
	err[0] = 0;
	return conf__parse(text, "c.conf", &cfg, err, sizeof(err));
}

static void assert_error(const char *text, const char *expect)
{
	ck_assert_int_eq(parse(text), -EINVAL);
	if (!strstr(err, expect))
		ck_abort_msg("error '%s' lacks '%s'", err, expect);
}

START_TEST(test_minimal_defaults)
{
	ck_assert_int_eq(parse(BASE TLS_INSECURE), 0);
	ck_assert_str_eq(cfg.cluster_name, "twin-lab");
	ck_assert_str_eq(cfg.host_name, "h1");
	ck_assert_str_eq(cfg.replication_addr, "198.18.1.1");
	ck_assert_str_eq(cfg.state_dir, CONF_DEFAULT_STATE_DIR);
	ck_assert_str_eq(cfg.socket, CONF_DEFAULT_SOCKET);
	ck_assert_str_eq(cfg.twin_vmm, CONF_DEFAULT_TWIN_VMM);
	ck_assert_str_eq(cfg.vm_configs, CONF_DEFAULT_VM_CONFIGS);
	ck_assert_uint_eq(cfg.port_base, CONF_DEFAULT_PORT_BASE);
	ck_assert(cfg.tls.insecure);
}
END_TEST

START_TEST(test_full)
{
	ck_assert_int_eq(parse("# clusterd.conf\n" BASE "state_dir = /tmp/s ; inline comment\n"
			       "socket = /tmp/s/c.sock\n[paths]\ntwin_vmm = /b/twin-vmm\n"
			       "vm_configs = /etc/vms\n[tls]\ncert = /t/c\nkey = /t/k\nca = /t/ca\n"
			       "[replication]\nport_base = 9000\n"),
			 0);
	ck_assert_str_eq(cfg.state_dir, "/tmp/s");
	ck_assert_str_eq(cfg.socket, "/tmp/s/c.sock");
	ck_assert_str_eq(cfg.twin_vmm, "/b/twin-vmm");
	ck_assert_str_eq(cfg.vm_configs, "/etc/vms");
	ck_assert_str_eq(cfg.tls.cert, "/t/c");
	ck_assert_str_eq(cfg.tls.ca, "/t/ca");
	ck_assert(!cfg.tls.insecure);
	ck_assert_uint_eq(cfg.port_base, 9000);
	ck_assert_int_eq(parse(BASE "[tls]\npsk = /t/psk\n"), 0);
	ck_assert_str_eq(cfg.tls.psk, "/t/psk");
}
END_TEST

START_TEST(test_errors_name_line)
{
	assert_error(BASE TLS_INSECURE "[paths]\ntwin_vmm = bin/twin-vmm\n",
		     "c.conf:9: [paths] twin_vmm 'bin/twin-vmm' must be an absolute path");
	assert_error(BASE "replication_addr = 1.2.3.4\n" TLS_INSECURE,
		     "c.conf:6: [host] replication_addr is given twice");
	assert_error(BASE "nmae = x\n" TLS_INSECURE, "c.conf:6: unknown key 'nmae' in [host]");
	assert_error(BASE "[metrix]\nport = 1\n" TLS_INSECURE,
		     "c.conf:7: unknown section [metrix]");
	assert_error("port_base = 1\n" BASE TLS_INSECURE, "c.conf:1: port_base is outside any");
	assert_error(BASE "this line is no key\n" TLS_INSECURE, "c.conf:6: not `[section]`");
	assert_error("[cluster]\nname = a b\n", "c.conf:2: [cluster] name 'a b' is not a name");
	assert_error(BASE "[replication]\nport_base = 80\n" TLS_INSECURE,
		     "c.conf:7: [replication] port_base '80' must be a port");
	assert_error(BASE "[replication]\nport_base = 7400x\n" TLS_INSECURE, "c.conf:7:");
	assert_error("[cluster]\nname = t\n[host]\nname = h1\nreplication_addr = host1\n",
		     "c.conf:5: [host] replication_addr 'host1' is not an IP address");
	assert_error(BASE "[tls]\ninsecure = maybe\n",
		     "c.conf:7: [tls] insecure 'maybe' is not yes");
}
END_TEST

/* The first error is the one reported, even when libinih's own comes later. */
START_TEST(test_first_error_wins)
{
	assert_error(BASE "bad = 1\nno syntax here\n" TLS_INSECURE, "c.conf:6: unknown key 'bad'");
	assert_error(BASE "no syntax here\nbad = 1\n" TLS_INSECURE, "c.conf:6: not `[section]`");
}
END_TEST

START_TEST(test_missing_and_tls)
{
	assert_error(TLS_INSECURE, "c.conf: [cluster] name is missing: add `name = twin-lab`");
	assert_error("[cluster]\nname = x\n" TLS_INSECURE, "c.conf: [host] name is missing");
	assert_error(BASE, "c.conf: [tls] must give exactly one of");
	assert_error(BASE "[tls]\npsk = /p\ninsecure = yes\n", "exactly one of");
	assert_error(BASE "[tls]\ncert = /c\nkey = /k\n", "cert, key and ca go together");
	assert_error(BASE "[tls]\ninsecure = no\n", "exactly one of");
}
END_TEST

START_TEST(test_long_line_and_oversize)
{
	char text[1024];

	snprintf(text, sizeof(text), BASE "state_dir = /%0300d\n" TLS_INSECURE, 0);
	assert_error(text, "c.conf:6: the line is longer than");
	snprintf(text, sizeof(text), BASE "socket = /%0110d\n" TLS_INSECURE, 0);
	assert_error(text, "c.conf:6: [host] socket");
}
END_TEST

START_TEST(test_load)
{
	char path[] = "/tmp/test-clusterd-conf-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, BASE TLS_INSECURE, strlen(BASE TLS_INSECURE)),
			 (ssize_t)strlen(BASE TLS_INSECURE));
	close(fd);
	ck_assert_int_eq(conf__load(path, &cfg, err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.host_name, "h1");
	unlink(path);
	ck_assert_int_eq(conf__load(path, &cfg, err, sizeof(err)), -ENOENT);
	ck_assert(strstr(err, "cannot open"));
}
END_TEST

/* [metrics] listen: off when absent; ADDR:PORT with IPv4 or [IPv6]; anything else names the line. */
START_TEST(test_metrics_listen)
{
	ck_assert_int_eq(parse(BASE TLS_INSECURE), 0);
	ck_assert_uint_eq(cfg.metrics.port, 0);
	ck_assert_int_eq(parse(BASE TLS_INSECURE "[metrics]\nlisten = 198.18.0.1:9464\n"), 0);
	ck_assert_str_eq(cfg.metrics.addr, "198.18.0.1");
	ck_assert_uint_eq(cfg.metrics.port, 9464);
	ck_assert_int_eq(parse(BASE TLS_INSECURE "[metrics]\nlisten = [::1]:80\n"), 0);
	ck_assert_str_eq(cfg.metrics.addr, "::1");
	ck_assert_uint_eq(cfg.metrics.port, 80);
	static const char *const bad[] = {
	    "198.18.0.1",	"198.18.0.1:",	  "198.18.0.1:0",  "198.18.0.1:65536",
	    "198.18.0.1:+80", "198.18.0.1:9x", "host:9464",	   "::1:9464",
	    "[::1:9464",	"[198.18.0.1]:9", "[]:9464",	   ":9464",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];

		snprintf(text, sizeof(text), BASE TLS_INSECURE "[metrics]\nlisten = %s\n", bad[i]);
		assert_error(text, "c.conf:9: [metrics] listen");
		assert_error(text, "use e.g. listen = 198.18.0.1:9464");
	}
	assert_error(BASE TLS_INSECURE "[metrics]\nport = 9464\n", "c.conf:9: unknown key 'port'");
}
END_TEST

/* port_base leaves room for the model's VMs (CL_MAX_VMS), the one bound: no more, no less. */
START_TEST(test_port_base_bound)
{
	char text[256];

	snprintf(text, sizeof(text), BASE "[replication]\nport_base = %d\n" TLS_INSECURE,
		 65535 - CL_MAX_VMS);
	ck_assert_int_eq(parse(text), 0);
	ck_assert_uint_eq(cfg.port_base, 65535 - CL_MAX_VMS);
	snprintf(text, sizeof(text), BASE "[replication]\nport_base = %d\n" TLS_INSECURE,
		 65535 - CL_MAX_VMS + 1);
	assert_error(text, "must be a port from 1024 to 65471");
}
END_TEST

Suite *clusterd_conf_suite(void)
{
	Suite *s = suite_create("clusterd_conf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_minimal_defaults);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_errors_name_line);
	tcase_add_test(tc, test_first_error_wins);
	tcase_add_test(tc, test_missing_and_tls);
	tcase_add_test(tc, test_long_line_and_oversize);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_metrics_listen);
	tcase_add_test(tc, test_port_base_bound);
	suite_add_tcase(s, tc);
	return s;
}
