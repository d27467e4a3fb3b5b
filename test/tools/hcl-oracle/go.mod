module github.com/spiffe-sidecar/hcl-oracle

go 1.22

// The version spiffe-helper v0.11.0's go.mod pins (Vault's fork of HCL v1).
require github.com/hashicorp/hcl v1.0.1-vault-7
