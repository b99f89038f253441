#!/usr/bin/env bash
# Makes driftguard's certificate material with the openssl CLI, for people who bring their own PKI
# or want to see every step: ca.crt, ca.key, tls.crt, tls.key in one directory, with the same
# profile as the built-in generator (certs/generate.h).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: generate.sh [options]

Creates ca.crt, ca.key (self-signed CA) and tls.crt, tls.key (serving certificate for the
driftguard webhook Service) in the output directory.

Options:
  -n, --namespace NS    namespace of the webhook Service (default: driftguard-system)
  -s, --service NAME    name of the webhook Service (default: driftguard)
      --dns NAME        extra DNS subjectAltName (repeatable)
      --ip ADDR         extra IP subjectAltName, e.g. 127.0.0.1 (repeatable)
  -o, --out DIR         output directory (default: ./driftguard-certs)
      --key-type TYPE   ecdsa-p256 (default), rsa-2048 or rsa-3072
      --ca-days N       CA validity in days (default: 1825)
      --days N          serving certificate validity in days (default: 365)
      --force           replace existing material instead of reusing it
  -h, --help            show this help

Idempotent: an existing CA (ca.crt + ca.key that belong together) is reused, and an existing serving
certificate is kept when it is signed by that CA, matches tls.key and has exactly the requested
SANs. Otherwise the missing or stale parts are (re)made. Keys are written with mode 0600.

Serving certificate SANs: NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local, then --dns and
--ip values in the order given.
USAGE
}

die() {
  echo "generate.sh: $*" >&2
  exit 1
}

namespace=driftguard-system
service=driftguard
out=./driftguard-certs
key_type=ecdsa-p256
ca_days=1825
days=365
force=0
extra_dns=()
extra_ip=()

while (($# > 0)); do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    -n | --namespace) namespace=${2:?--namespace needs a value}; shift 2 ;;
    -s | --service) service=${2:?--service needs a value}; shift 2 ;;
    --dns) extra_dns+=("${2:?--dns needs a value}"); shift 2 ;;
    --ip) extra_ip+=("${2:?--ip needs a value}"); shift 2 ;;
    -o | --out) out=${2:?--out needs a value}; shift 2 ;;
    --key-type) key_type=${2:?--key-type needs a value}; shift 2 ;;
    --ca-days) ca_days=${2:?--ca-days needs a value}; shift 2 ;;
    --days) days=${2:?--days needs a value}; shift 2 ;;
    --force) force=1; shift ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

label_re='^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'
[[ $namespace =~ $label_re ]] || die "namespace \"$namespace\" is not a DNS-1123 label"
[[ $service =~ $label_re ]] || die "service \"$service\" is not a DNS-1123 label"
[[ $ca_days =~ ^[1-9][0-9]*$ ]] || die "--ca-days must be a positive integer"
[[ $days =~ ^[1-9][0-9]*$ ]] || die "--days must be a positive integer"
for d in "${extra_dns[@]}"; do
  [[ $d =~ ^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ ]] ||
    die "--dns \"$d\" is not a DNS-1123 subdomain"
done
for ip in "${extra_ip[@]}"; do
  [[ $ip =~ ^[0-9.]+$ || $ip =~ ^[0-9a-fA-F:.]+$ ]] || die "--ip \"$ip\" is not an IP address"
done
case "$key_type" in
  ecdsa-p256) keygen=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256); leaf_ku="digitalSignature" ;;
  rsa-2048) keygen=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048); leaf_ku="digitalSignature,keyEncipherment" ;;
  rsa-3072) keygen=(-algorithm RSA -pkeyopt rsa_keygen_bits:3072); leaf_ku="digitalSignature,keyEncipherment" ;;
  *) die "--key-type must be ecdsa-p256, rsa-2048 or rsa-3072" ;;
esac
command -v openssl >/dev/null || die "openssl is not installed"

cn="$service.$namespace.svc"
sans="DNS:$service,DNS:$service.$namespace,DNS:$cn,DNS:$cn.cluster.local"
for d in "${extra_dns[@]}"; do
  [[ ",$sans," == *",DNS:$d,"* ]] || sans+=",DNS:$d"
done
for ip in "${extra_ip[@]}"; do sans+=",IP:$ip"; done

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

# Times for `openssl ca`, all from one reading of the clock: notBefore backdated 5 minutes for
# clock skew, notAfter = now + validity.
now=$(date -u +%s)
stamp() { date -u -d "@$((now + $1))" +%Y%m%d%H%M%SZ; }
not_before=$(stamp -300)

cat >"$work/openssl.cnf" <<CNF
[ca]
default_ca = driftguard
[driftguard]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
email_in_dn = no
[any]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,$leaf_ku
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = $sans
CNF

# Signs $1 (a CSR) with extension section $2 for $3 days; writes PEM to $4. $5 = "selfsign" or "".
sign() {
  : >"$work/index.txt"
  openssl rand -hex 16 >"$work/serial"  # random 128-bit serial
  local args=(ca -batch -notext -config "$work/openssl.cnf" -in "$1" -extensions "$2"
    -startdate "$not_before" -enddate "$(stamp $(($3 * 86400)))" -out "$4")
  if [[ ${5:-} == selfsign ]]; then
    args+=(-selfsign -keyfile "$work/ca.key")
  else
    args+=(-cert "$work/ca.crt" -keyfile "$work/ca.key")
  fi
  openssl "${args[@]}" 2>"$work/ca.log" || {
    cat "$work/ca.log" >&2
    die "openssl ca failed"
  }
}

# Reuse an existing CA when ca.crt and ca.key belong together.
reuse_ca=0
if ((force == 0)) && [[ -s $out/ca.crt && -s $out/ca.key ]]; then
  ca_pub=$(openssl x509 -in "$out/ca.crt" -noout -pubkey 2>/dev/null || true)
  key_pub=$(openssl pkey -in "$out/ca.key" -pubout 2>/dev/null || true)
  if [[ -n $ca_pub && $ca_pub == "$key_pub" ]]; then
    reuse_ca=1
  else
    die "$out/ca.crt and $out/ca.key do not belong together (use --force to replace them)"
  fi
fi

if ((reuse_ca)); then
  # Only the first certificate of ca.crt (the active CA) signs.
  openssl x509 -in "$out/ca.crt" -out "$work/ca.crt"
  cp "$out/ca.key" "$work/ca.key"
else
  openssl genpkey "${keygen[@]}" -out "$work/ca.key" 2>/dev/null
  openssl req -new -config "$work/openssl.cnf" -key "$work/ca.key" -subj "/CN=driftguard-ca" \
    -out "$work/ca.csr"
  sign "$work/ca.csr" ca_ext "$ca_days" "$work/ca.crt" selfsign
fi

# Keep the serving certificate when it is still right for the request.
keep_leaf=0
if ((reuse_ca)) && [[ -s $out/tls.crt && -s $out/tls.key ]]; then
  # Let openssl print the requested SANs too, so both sides share one notation (IPv6 especially).
  sorted_sans() { openssl x509 -noout -ext subjectAltName | tail -n +2 | tr -d ' ' | tr ',' '\n' | sort; }
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/probe.key" 2>/dev/null
  want=$(openssl req -x509 -new -config "$work/openssl.cnf" -key "$work/probe.key" -subj /CN=probe \
    -days 1 -addext "subjectAltName=$sans" | sorted_sans)
  have=$(sorted_sans <"$out/tls.crt" 2>/dev/null || true)
  leaf_pub=$(openssl x509 -in "$out/tls.crt" -noout -pubkey 2>/dev/null || true)
  leaf_key_pub=$(openssl pkey -in "$out/tls.key" -pubout 2>/dev/null || true)
  if [[ $want == "$have" && -n $leaf_pub && $leaf_pub == "$leaf_key_pub" ]] &&
    openssl verify -CAfile "$work/ca.crt" -purpose sslserver "$out/tls.crt" >/dev/null 2>&1; then
    keep_leaf=1
  fi
fi

if ((keep_leaf)); then
  echo "generate.sh: $out already holds a valid CA and serving certificate; nothing to do" >&2
  exit 0
fi

openssl genpkey "${keygen[@]}" -out "$work/tls.key" 2>/dev/null
openssl req -new -config "$work/openssl.cnf" -key "$work/tls.key" -subj "/CN=$cn" -out "$work/tls.csr"
sign "$work/tls.csr" leaf_ext "$days" "$work/tls.crt"

install -m 0600 "$work/tls.key" "$out/tls.key"
install -m 0644 "$work/tls.crt" "$out/tls.crt"
if ((reuse_ca == 0)); then
  install -m 0600 "$work/ca.key" "$out/ca.key"
  install -m 0644 "$work/ca.crt" "$out/ca.crt"
fi
echo "generate.sh: wrote $(((reuse_ca == 0)) && echo "ca.crt ca.key ")tls.crt tls.key to $out" >&2
