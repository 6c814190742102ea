# tests/e2e/tls-lib.sh: channel security for the migration tests (sourced after lib.sh).
# shellcheck shell=bash
#
# TWIN_TLS_CERTS (tests/e2e/e2e.am) is the tls-certs helper, which makes the PKI at run time:
# no key is ever committed, and the openssl CLI is not needed.

# tls_pki DIR [NAME...]: DIR gets ca.pem, server/client/stranger/expired/misnamed .pem + .key,
# psk and other.psk (run tls-certs alone for the list); the server certificate names
# 127.0.0.1, ::1, localhost and each NAME (a lab host's address, for one).
tls_pki()
{
	local dir=$1
	shift
	[[ -x ${TWIN_TLS_CERTS:-} ]] || fail "TWIN_TLS_CERTS is not the tls-certs helper (run through make check)"
	mkdir -p "$dir"
	"$TWIN_TLS_CERTS" "$dir" "$@" || fail "tls-certs could not write a PKI into $dir"
}

# tls_opts DIR NAME: twin-vmm's options for mutual certificate auth as NAME (server, client...).
tls_opts()
{
	local dir=$1 name=$2
	echo "--tls-cert $dir/$name.pem --tls-key $dir/$name.key --tls-ca $dir/ca.pem"
}
