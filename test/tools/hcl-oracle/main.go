// Command hcl-oracle decodes helper.conf files with hashicorp/hcl v1, the version spiffe-helper
// v0.11.0 pins, into a struct with spiffe-helper's hcl tags, and prints one JSON line per file.
// It is the reference for test/config/hcl-differential.test.ts and is never shipped.
//
//	hcl-oracle FILE...
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/token"
)

// The fields and tags of spiffe-helper's cmd/spiffe-helper/config.Config and health.Config at v0.11.0.
type healthConfig struct {
	ListenerEnabled bool   `hcl:"listener_enabled" json:"listener_enabled"`
	BindPort        int    `hcl:"bind_port" json:"bind_port"`
	LivenessPath    string `hcl:"liveness_path" json:"liveness_path"`
	ReadinessPath   string `hcl:"readiness_path" json:"readiness_path"`
}

type jwtConfig struct {
	JWTAudience       string   `hcl:"jwt_audience" json:"jwt_audience"`
	JWTExtraAudiences []string `hcl:"jwt_extra_audiences" json:"jwt_extra_audiences"`
	JWTSVIDFilename   string   `hcl:"jwt_svid_file_name" json:"jwt_svid_file_name"`

	UnusedKeyPositions map[string][]token.Pos `hcl:",unusedKeyPositions" json:"-"`
}

type config struct {
	AddIntermediatesToBundle bool         `hcl:"add_intermediates_to_bundle" json:"add_intermediates_to_bundle"`
	AgentAddress             string       `hcl:"agent_address" json:"agent_address"`
	Cmd                      string       `hcl:"cmd" json:"cmd"`
	CmdArgs                  string       `hcl:"cmd_args" json:"cmd_args"`
	PIDFilename              string       `hcl:"pid_file_name" json:"pid_file_name"`
	CertDir                  string       `hcl:"cert_dir" json:"cert_dir"`
	CertFileMode             int          `hcl:"cert_file_mode" json:"cert_file_mode"`
	KeyFileMode              int          `hcl:"key_file_mode" json:"key_file_mode"`
	JWTBundleFileMode        int          `hcl:"jwt_bundle_file_mode" json:"jwt_bundle_file_mode"`
	JWTSVIDFileMode          int          `hcl:"jwt_svid_file_mode" json:"jwt_svid_file_mode"`
	IncludeFederatedDomains  bool         `hcl:"include_federated_domains" json:"include_federated_domains"`
	OmitExpired              bool         `hcl:"omit_expired" json:"omit_expired"`
	RenewSignal              string       `hcl:"renew_signal" json:"renew_signal"`
	DaemonMode               *bool        `hcl:"daemon_mode" json:"daemon_mode"`
	HealthCheck              healthConfig `hcl:"health_checks" json:"health_checks"`
	Hint                     string       `hcl:"hint" json:"hint"`
	SVIDFilename             string       `hcl:"svid_file_name" json:"svid_file_name"`
	SVIDKeyFilename          string       `hcl:"svid_key_file_name" json:"svid_key_file_name"`
	SVIDBundleFilename       string       `hcl:"svid_bundle_file_name" json:"svid_bundle_file_name"`
	JWTSVIDs                 []jwtConfig  `hcl:"jwt_svids" json:"jwt_svids"`
	JWTBundleFilename        string       `hcl:"jwt_bundle_file_name" json:"jwt_bundle_file_name"`

	UnusedKeyPositions map[string][]token.Pos `hcl:",unusedKeyPositions" json:"-"`
}

type result struct {
	File   string  `json:"file"`
	Config *config `json:"config,omitempty"`
	// Unused names the keys spiffe-helper's checkForUnknownConfig refuses ("" for the top level).
	Unused map[string][]string `json:"unused,omitempty"`
	Error  string              `json:"error,omitempty"`
}

func keysOf(positions map[string][]token.Pos) []string {
	keys := make([]string, 0, len(positions))
	for key := range positions {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

// decodeFile runs hcl.Decode as spiffe-helper's ParseConfigFile does; a panic inside hcl (it
// panics on some malformed tokens) is reported as an error, as spiffe-helper would crash.
func decodeFile(path string) (out result) {
	out.File = path
	defer func() {
		if recovered := recover(); recovered != nil {
			out = result{File: path, Error: fmt.Sprintf("panic: %v", recovered)}
		}
	}()
	data, err := os.ReadFile(path)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	decoded := new(config)
	if err := hcl.Decode(decoded, string(data)); err != nil {
		out.Error = err.Error()
		return out
	}
	out.Config = decoded
	out.Unused = map[string][]string{}
	if len(decoded.UnusedKeyPositions) > 0 {
		out.Unused[""] = keysOf(decoded.UnusedKeyPositions)
	}
	for index, jwt := range decoded.JWTSVIDs {
		if len(jwt.UnusedKeyPositions) > 0 {
			out.Unused[fmt.Sprintf("jwt_svids[%d]", index)] = keysOf(jwt.UnusedKeyPositions)
		}
	}
	return out
}

func main() {
	encoder := json.NewEncoder(os.Stdout)
	for _, path := range os.Args[1:] {
		if err := encoder.Encode(decodeFile(path)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
