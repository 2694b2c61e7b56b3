#!/usr/bin/env bash
# Makes a development CA and certificates for wardend's TLS and mTLS, with
# the openssl command:
#
#   make-certs.sh DIR ORG [PRINCIPAL[?roles=...] ...]
#
#   DIR/ca.pem, ca.key            the CA (10 years)
#   DIR/server.pem, server.key    wardend's certificate: localhost, 127.0.0.1, ::1
#                                 (also good for a development Redis's TLS)
#   DIR/redis-client.pem, .key    wardend's client certificate for Redis's
#                                 mutual TLS (--redis-tls-cert/--redis-tls-key)
#   DIR/<kind>_<id>.pem, .key     one client certificate per principal, whose
#                                 SAN URI warden://ORG/<kind>/<id>[?roles=a+b]
#                                 names it: agent/agent_a, or
#                                 "user/alice?roles=approver+auditor"
#
# Then: wardend --tls-cert DIR/server.pem --tls-key DIR/server.key
#               --tls-client-ca DIR/ca.pem ...
# For development only: keys are written unencrypted (mode 0600).
set -euo pipefail
dir="$1"; org="$2"; shift 2
mkdir -p "$dir"
umask 077
days=3650

if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -days "$days" \
    -subj "/CN=Warden dev CA ($org)" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

# issue NAME SUBJECT_CN SAN EKU
issue() {
  local name="$1" cn="$2" san="$3" eku="$4"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$cn" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -out "$dir/$name.pem" -days "$days" \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' \
      "$san" "$eku") 2>/dev/null
  rm -f "$dir/$name.csr"
}

issue server wardend "DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth
issue redis-client wardend-redis-client "DNS:wardend" clientAuth
for principal in "$@"; do
  path="${principal%%\?*}"
  issue "${path//\//_}" "${path//\//_}" "URI:warden://$org/$principal" clientAuth
done
chmod 644 "$dir"/*.pem
echo "certificates in $dir"
