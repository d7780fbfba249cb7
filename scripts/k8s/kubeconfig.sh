# Sourced by start.sh and start-node.sh: write_kubeconfig FILE SERVER writes the admin kubeconfig
# (user `admin`, token `admin-token`, as tokens.csv grants) for the API server at SERVER.
write_kubeconfig() {
    cat > "$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$2", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: admin-token}
contexts:
- name: local
  context: {cluster: local, user: admin, namespace: default}
current-context: local
KUBECONFIG
    chmod 600 "$1"
}
