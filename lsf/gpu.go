package lsf

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gantry-hpc/gantry/api"
)

// GPUReq is a parsed bsub -gpu requirement:
//
//	num=N[/host|/task]:mode=shared|exclusive_process:mps=yes|no|per_socket|per_gpu
//	:j_exclusive=yes|no:aff=yes|no:block=yes|no:gpack=yes|no:gvendor=nvidia|amd
//	:gmodel=NAME[#SIZE]:gtile=N|'!':gmem=SIZE:glink=yes:mig=G[/C]
//
// "-" alone means the defaults (one shared GPU).
type GPUReq struct {
	Num int    // GPUs; default 1
	Per string // "host" (the default) or "task"
	// Mode is "shared" (the default) or "exclusive_process".
	Mode       string
	MPS        string // yes, no, per_socket, per_gpu (with ,shared ,nocvd)
	JExclusive string // yes or no
	Aff        string // yes or no
	Block      string // yes or no
	GPack      string // yes or no
	GVendor    string // nvidia or amd
	GModel     string // model name, optionally #memory
	GTile      string // a number or '!'
	GMemBytes  int64  // GPU memory per GPU
	GMem       string // as given
	GLink      string // yes
	MIG        string // GI[/CI]
}

// GPUError is a bad -gpu value, naming the part that is wrong.
type GPUError struct {
	Input string
	Msg   string
}

func (e *GPUError) Error() string {
	return fmt.Sprintf("bad GPU requirement %q: %s", e.Input, e.Msg)
}

var yesNo = map[string]bool{"yes": true, "no": true}

// ParseGPU parses a -gpu value.
func ParseGPU(s string) (*GPUReq, error) {
	g := &GPUReq{Num: 1}
	in := strings.TrimSpace(s)
	if in == "-" {
		return g, nil
	}
	bad := func(format string, args ...any) error { return &GPUError{Input: s, Msg: fmt.Sprintf(format, args...)} }
	if in == "" {
		return nil, bad("empty (want e.g. num=2:mode=exclusive_process, or - for the defaults)")
	}
	if len(in) > 1024 {
		return nil, bad("longer than 1024 characters")
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(in, ":") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || v == "" {
			return nil, bad("%q: want key=value (num, mode, mps, j_exclusive, aff, block, gpack, gvendor, gmodel, gtile, gmem, glink, mig)", item)
		}
		if seen[k] {
			return nil, bad("%s given twice", k)
		}
		seen[k] = true
		switch k {
		case "num":
			n, per, hasPer := strings.Cut(v, "/")
			num, err := strconv.Atoi(n)
			if err != nil || num < 1 || num > 1024 {
				return nil, bad("num=%s: want a number of GPUs from 1 to 1024", v)
			}
			g.Num = num
			if hasPer {
				if per != "host" && per != "task" {
					return nil, bad("num=%s: want num=N/host or num=N/task", v)
				}
				g.Per = per
			}
		case "mode":
			if v != "shared" && v != "exclusive_process" {
				return nil, bad("mode=%s: want shared or exclusive_process", v)
			}
			g.Mode = v
		case "mps":
			base, opts, _ := strings.Cut(v, ",")
			if base != "yes" && base != "no" && base != "per_socket" && base != "per_gpu" {
				return nil, bad("mps=%s: want yes, no, per_socket or per_gpu", v)
			}
			if opts != "" {
				if base == "no" {
					return nil, bad("mps=%s: no takes no options", v)
				}
				for _, o := range strings.Split(opts, ",") {
					if o != "shared" && o != "nocvd" {
						return nil, bad("mps=%s: option %q: want shared or nocvd", v, o)
					}
				}
			}
			g.MPS = v
		case "j_exclusive", "aff", "block", "gpack":
			if !yesNo[v] {
				return nil, bad("%s=%s: want yes or no", k, v)
			}
			*map[string]*string{"j_exclusive": &g.JExclusive, "aff": &g.Aff, "block": &g.Block, "gpack": &g.GPack}[k] = v
		case "gvendor":
			if v != "nvidia" && v != "amd" {
				return nil, bad("gvendor=%s: want nvidia or amd", v)
			}
			g.GVendor = v
		case "gmodel":
			name, mem, hasMem := strings.Cut(v, "#")
			if !isModelName(name) {
				return nil, bad("gmodel=%s: want a GPU model name such as TeslaA100 or NVIDIAA10080GBPCIe", v)
			}
			if hasMem {
				if _, err := api.ParseMemory(mem); err != nil {
					return nil, bad("gmodel=%s: memory %q: want a size such as 80G", v, mem)
				}
			}
			g.GModel = v
		case "gtile":
			if v != "'!'" && v != "!" {
				if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1024 {
					return nil, bad("gtile=%s: want a positive number or '!'", v)
				}
			} else {
				v = "'!'"
			}
			g.GTile = v
		case "gmem":
			b, err := api.ParseMemory(v)
			if err != nil {
				return nil, bad("gmem=%s: want a memory size such as 16G", v)
			}
			g.GMemBytes, g.GMem = b, v
		case "glink":
			if v != "yes" {
				return nil, bad("glink=%s: want yes", v)
			}
			g.GLink = v
		case "mig":
			gi, ci, hasCI := strings.Cut(v, "/")
			if n, err := strconv.Atoi(gi); err != nil || n < 1 || n > 7 {
				return nil, bad("mig=%s: want a GPU instance size from 1 to 7, optionally /CI", v)
			}
			if hasCI {
				if n, err := strconv.Atoi(ci); err != nil || n < 1 || n > 7 {
					return nil, bad("mig=%s: compute instance size %q: want 1 to 7", v, ci)
				}
			}
			g.MIG = v
		default:
			return nil, bad("unknown key %q (want num, mode, mps, j_exclusive, aff, block, gpack, gvendor, gmodel, gtile, gmem, glink, mig)", k)
		}
	}
	return g, nil
}

func isModelName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isWordChar(s[i]) && s[i] != '-' && s[i] != '.' {
			return false
		}
	}
	return true
}

// String renders the requirement canonically: num first, then every key
// given, in a fixed order.
func (g *GPUReq) String() string {
	if g == nil {
		return ""
	}
	num := "num=" + strconv.Itoa(g.Num)
	if g.Per != "" {
		num += "/" + g.Per
	}
	parts := []string{num}
	for _, kv := range []struct{ k, v string }{
		{"mode", g.Mode}, {"mps", g.MPS}, {"j_exclusive", g.JExclusive}, {"aff", g.Aff}, {"block", g.Block},
		{"gpack", g.GPack}, {"gvendor", g.GVendor}, {"gmodel", g.GModel}, {"gtile", g.GTile}, {"gmem", g.GMem},
		{"glink", g.GLink}, {"mig", g.MIG},
	} {
		if kv.v != "" {
			parts = append(parts, kv.k+"="+kv.v)
		}
	}
	return strings.Join(parts, ":")
}
