/* Writes a test PKI and PSK files into a directory, for the end-to-end migration tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/rand.h>
#include "cert_fixture.h"

/* dir/name holding "identity:hexkey" with a fresh random key, mode 0600. */
static int write_psk(const char *dir, const char *name, const char *identity)
{
	unsigned char key[32];
	char path[512];
	FILE *f;
	int fd;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f)
		return -1;
	fprintf(f, "%s:", identity);
	for (size_t i = 0; i < sizeof(key); i++)
		fprintf(f, "%02x", key[i]);
	fputc('\n', f);
	OPENSSL_cleanse(key, sizeof(key));
	return fclose(f);
}

/* "IP:a" for an address, "DNS:n" for a name. */
static bool add_name(char *san, size_t len, const char *name)
{
	struct in6_addr a;
	bool ip = inet_pton(AF_INET, name, &a) == 1 || inet_pton(AF_INET6, name, &a) == 1;
	size_t used = strlen(san);

	return (size_t)snprintf(san + used, len - used, "%s%s:%s", used ? "," : "",
				ip ? "IP" : "DNS", name) < len - used;
}

int main(int argc, char **argv)
{
	char san[1024] = "";

	if (argc < 2 || argv[1][0] == '-') {
		fprintf(
		    stderr,
		    "usage: %s DIR [NAME...]\n"
		    "Writes into DIR: ca.pem, other-ca.pem; server, client (by ca), stranger (by\n"
		    "other-ca), expired and misnamed .pem/.key; psk and other.psk (same identity,\n"
		    "another key).  The server cert names 127.0.0.1, ::1, localhost and each NAME\n"
		    "(an address or a host name, e.g. a lab host's 198.18.0.2).\n",
		    argv[0]);
		return 2;
	}
	for (int i = 2; i < argc; i++)
		if (!add_name(san, sizeof(san), argv[i])) {
			fprintf(stderr, "%s: too many names\n", argv[0]);
			return 2;
		}
	if (!cert_fixture__make(argv[1], san[0] ? san : NULL) ||
	    write_psk(argv[1], "psk", "twin-e2e") || write_psk(argv[1], "other.psk", "twin-e2e")) {
		fprintf(stderr, "%s: cannot write the PKI into %s: %s\n", argv[0], argv[1],
			errno ? strerror(errno) : "OpenSSL failed");
		return 1;
	}
	return 0;
}
