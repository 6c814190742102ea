/* Test PKIs made at run time with OpenSSL (no key is ever committed): two CAs and their certs. */
#ifndef TESTS_UNIT_CERT_FIXTURE_H
#define TESTS_UNIT_CERT_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define DAY_S (24L * 3600)
/* Every name a test dials: the server cert carries them all (and any extra), "misnamed" none. */
#define LOOPBACK_SAN "IP:127.0.0.1,IP:::1,DNS:localhost"

/*
 * In dir: ca.pem and other-ca.pem (the CAs); NAME.pem + NAME.key for server, client
 * (signed by ca), stranger (a client signed by other-ca), expired (signed by ca, expired
 * yesterday) and misnamed (a server cert by ca naming only elsewhere.example).
 */
struct cert_spec {
	const char *name;
	bool by_other_ca;
	const char *san;
	long not_before_s, not_after_s;
};

static const struct cert_spec cert_specs[] = {
    {"server", false, LOOPBACK_SAN, -DAY_S, 30 * DAY_S},
    {"client", false, NULL, -DAY_S, 30 * DAY_S},
    {"stranger", true, NULL, -DAY_S, 30 * DAY_S},
    {"expired", false, NULL, -2 * DAY_S, -DAY_S},
    {"misnamed", false, "DNS:elsewhere.example", -DAY_S, 30 * DAY_S},
};

static bool cert_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	bool ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A cert for key named cn, signed by issuer (itself when NULL: a CA). */
static X509 *cert_make(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		       const char *san, long not_before_s, long not_after_s)
{
	static long serial = 1;
	X509 *x = X509_new();
	bool ok;

	if (!x)
		return NULL;
	ok = X509_set_version(x, X509_VERSION_3) &&
	     ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), not_before_s) &&
	     X509_gmtime_adj(X509_getm_notAfter(x), not_after_s) && X509_set_pubkey(x, key) &&
	     X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)) &&
	     cert_add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash") &&
	     cert_add_ext(x, issuer ? issuer : x, NID_basic_constraints,
			  issuer ? "critical,CA:FALSE" : "critical,CA:TRUE");
	if (ok && !issuer)
		ok = cert_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (ok && issuer)
		ok = cert_add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	if (ok && san)
		ok = cert_add_ext(x, issuer ? issuer : x, NID_subject_alt_name, san);
	if (ok)
		ok = X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* dir/name.suffix, mode 0600: the certificate x, or else the private key. */
static bool cert_write(const char *dir, const char *name, const char *suffix, X509 *x,
		       EVP_PKEY *key)
{
	char path[512];
	FILE *f;
	int fd;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, suffix);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return false;
	}
	ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	return fclose(f) == 0 && ok;
}

static bool cert_make_ca(const char *dir, const char *name, X509 **ca, EVP_PKEY **key)
{
	*key = EVP_EC_gen("P-256");
	*ca = *key ? cert_make(*key, name, NULL, NULL, NULL, -DAY_S, 365 * DAY_S) : NULL;
	return *ca && cert_write(dir, name, "pem", *ca, NULL);
}

/* Fills dir as described above, server naming extra_san too ("IP:198.18.0.2,...", or NULL). */
static bool cert_fixture__make(const char *dir, const char *extra_san)
{
	char server_san[1024];
	X509 *ca = NULL, *other = NULL;
	EVP_PKEY *ca_key = NULL, *other_key = NULL;
	bool ok = cert_make_ca(dir, "ca", &ca, &ca_key) &&
		  cert_make_ca(dir, "other-ca", &other, &other_key);

	for (size_t i = 0; ok && i < sizeof(cert_specs) / sizeof(cert_specs[0]); i++) {
		const struct cert_spec *c = &cert_specs[i];
		EVP_PKEY *key = EVP_EC_gen("P-256");
		const char *san = c->san;
		X509 *x;

		if (extra_san && !strcmp(c->name, "server")) {
			snprintf(server_san, sizeof(server_san), "%s,%s", c->san, extra_san);
			san = server_san;
		}
		x = key ? cert_make(key, c->name, c->by_other_ca ? other : ca,
				    c->by_other_ca ? other_key : ca_key, san, c->not_before_s,
				    c->not_after_s)
			: NULL;

		ok = x && cert_write(dir, c->name, "pem", x, NULL) &&
		     cert_write(dir, c->name, "key", NULL, key);
		X509_free(x);
		EVP_PKEY_free(key);
	}
	X509_free(ca);
	X509_free(other);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_key);
	return ok;
}

#endif
