package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dsys-dev/dsys/queue/celery"
)

// A builtin is one built-in task: its parameters as a Celery (Python) task
// would declare them, so that positional, keyword and mixed calls bind as
// Python binds them, and its body over the bound arguments.
type builtin struct {
	params []param
	// variadic: echo(*args, **kwargs) takes anything, unbound.
	variadic bool
	run      func(ctx context.Context, args []any) (any, error)
}

// param is one positional-or-keyword parameter.
type param struct {
	name     string
	optional bool // has a default (def)
	def      any
}

// builtins are the tasks every worker can serve without configuration.
var builtins = map[string]builtin{
	"add":   {params: []param{{name: "x"}, {name: "y"}}, run: builtinAdd},
	"mul":   {params: []param{{name: "x"}, {name: "y"}}, run: builtinMul},
	"sum":   {params: []param{{name: "xs"}}, run: builtinSum},
	"echo":  {variadic: true},
	"sleep": {params: []param{{name: "seconds"}}, run: builtinSleep},
	"fail":  {params: []param{{name: "message", optional: true, def: "fail"}}, run: builtinFail},
}

// Builtin returns the built-in task function called name: add(x, y),
// mul(x, y), sum(xs), echo(*args, **kwargs), sleep(seconds),
// fail(message). Arguments bind by position, by keyword or both, as in
// Python.
func Builtin(name string) (TaskFunc, bool) {
	b, ok := builtins[name]
	if !ok {
		return nil, false
	}
	if b.variadic {
		return builtinEcho, true
	}
	return func(ctx context.Context, t *celery.Task) (any, error) {
		args, err := bindArgs(name, b.params, t.Args, t.Kwargs)
		if err != nil {
			return nil, err
		}
		return b.run(ctx, args)
	}, true
}

// BuiltinArity is how many positional arguments a built-in takes, -1 for
// echo's *args, 0 for an unknown name: its TaskDef.Arity.
func BuiltinArity(name string) int {
	b, ok := builtins[name]
	switch {
	case !ok:
		return 0
	case b.variadic:
		return -1
	}
	return len(b.params)
}

// BuiltinNames lists the built-in tasks.
func BuiltinNames() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// RegisterBuiltins registers every built-in under its bare name, and
// Celery's canvas tasks (celery.group, celery.chain, celery.map,
// celery.starmap, celery.chunks, celery.accumulate) that every Celery
// worker hosts. Names registered already are kept.
func RegisterBuiltins(r *Registry) error {
	for _, n := range BuiltinNames() {
		if r.Lookup(n) != nil {
			continue
		}
		f, _ := Builtin(n)
		if err := r.Register(TaskDef{Name: n, Func: f, Arity: BuiltinArity(n)}); err != nil {
			return err
		}
	}
	return registerCanvas(r)
}

func badArgs(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadArgs}, args...)...)
}

// bindArgs binds a call to params as Python binds a call to
// fn(p1, p2=default, …): positional arguments first, then keywords by name;
// too many, missing, unknown or repeated arguments are TypeErrors worded as
// Python words them.
func bindArgs(fn string, params []param, args []any, kwargs map[string]any) ([]any, error) {
	if len(args) > len(params) {
		return nil, badArgs("%s() takes %s but %d %s given", fn, positionalCount(params), len(args), wasWere(len(args)))
	}
	out := make([]any, len(params))
	set := make([]bool, len(params))
	for i, a := range args {
		out[i], set[i] = a, true
	}
	names := make([]string, 0, len(kwargs))
	for k := range kwargs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		i := -1
		for j := range params {
			if params[j].name == k {
				i = j
				break
			}
		}
		switch {
		case i < 0:
			return nil, badArgs("%s() got an unexpected keyword argument '%s'", fn, k)
		case set[i]:
			return nil, badArgs("%s() got multiple values for argument '%s'", fn, k)
		}
		out[i], set[i] = kwargs[k], true
	}
	var missing []string
	for i, p := range params {
		switch {
		case set[i]:
		case p.optional:
			out[i] = p.def
		default:
			missing = append(missing, "'"+p.name+"'")
		}
	}
	if len(missing) > 0 {
		s := ""
		if len(missing) > 1 {
			s = "s"
		}
		return nil, badArgs("%s() missing %d required positional argument%s: %s", fn, len(missing), s, pyList(missing))
	}
	return out, nil
}

// positionalCount says how many positional arguments params take, as
// Python's TypeError does: "2 positional arguments", "from 0 to 1 …".
func positionalCount(params []param) string {
	required := 0
	for _, p := range params {
		if !p.optional {
			required++
		}
	}
	noun := "positional arguments"
	if len(params) == 1 && required == 1 {
		noun = "positional argument"
	}
	if required == len(params) {
		return fmt.Sprintf("%d %s", required, noun)
	}
	return fmt.Sprintf("from %d to %d %s", required, len(params), noun)
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// pyList joins names as Python's argument errors do: 'x', 'y' and 'z'.
func pyList(names []string) string {
	switch len(names) {
	case 1:
		return names[0]
	case 2:
		return names[0] + " and " + names[1]
	}
	return strings.Join(names[:len(names)-1], ", ") + ", and " + names[len(names)-1]
}

// maxIntDigits is the longest decimal integer Python 3.11 converts
// (sys.int_info.default_max_str_digits): longer ones are refused, in both
// directions, so that a task cannot be made to run quadratic conversions
// on millions of digits.
const maxIntDigits = 4300

// errDeterministic marks a built-in failure that another run cannot mend:
// it is not retried.
func errDeterministic(e *celery.RemoteError) error { return errors.Join(e, ErrSkipRetry) }

func tooManyDigitsIn(n int) error {
	return errDeterministic(celery.Exception("builtins", "ValueError",
		fmt.Sprintf("Exceeds the limit (%d digits) for integer string conversion: value has %d digits; use sys.set_int_max_str_digits() to increase the limit", maxIntDigits, n)))
}

func tooManyDigitsOut() error {
	return errDeterministic(celery.Exception("builtins", "ValueError",
		fmt.Sprintf("Exceeds the limit (%d digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit", maxIntDigits)))
}

// number is an exact integer when possible, else a float (as in Python).
type number struct {
	i     *big.Int
	f     float64
	isInt bool
}

// intDigits returns how many digits s has when it is a decimal integer
// (an optional sign, then digits only), else -1.
func intDigits(s string) int {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" {
		return -1
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
	}
	return len(s)
}

func toNumber(task string, name string, v any) (number, error) {
	switch x := v.(type) {
	case json.Number:
		s := x.String()
		if d := intDigits(s); d >= 0 {
			if d > maxIntDigits {
				return number{}, tooManyDigitsIn(d)
			}
			if i, ok := new(big.Int).SetString(s, 10); ok {
				return number{i: i, isInt: true}, nil
			}
		}
		f, err := x.Float64()
		if err != nil {
			return number{}, badArgs("%s(): argument '%s': %.40q is not a number", task, name, s)
		}
		return number{f: f}, nil
	case float64:
		return number{f: x}, nil
	case int:
		return number{i: big.NewInt(int64(x)), isInt: true}, nil
	case int64:
		return number{i: big.NewInt(x), isInt: true}, nil
	}
	return number{}, badArgs("%s(): argument '%s': want a number, got %s", task, name, jsonType(v))
}

func (n number) float() float64 {
	if n.isInt {
		f, _ := new(big.Float).SetInt(n.i).Float64()
		return f
	}
	return n.f
}

// value renders n for JSON: integers exactly, floats as floats. An
// integer longer than Python converts is refused, as Python refuses to
// encode it.
func (n number) value() (any, error) {
	if !n.isInt {
		return n.f, nil
	}
	// Digits ≥ bits·log10(2); the exact count is only needed near the limit.
	if n.i.BitLen() > int(float64(maxIntDigits)/math.Log10(2))+2 {
		return nil, tooManyDigitsOut()
	}
	s := n.i.String()
	if intDigits(s) > maxIntDigits {
		return nil, tooManyDigitsOut()
	}
	return json.Number(s), nil
}

func arith(task string, args []any, op func(a, b number) number) (any, error) {
	a, err := toNumber(task, "x", args[0])
	if err != nil {
		return nil, err
	}
	b, err := toNumber(task, "y", args[1])
	if err != nil {
		return nil, err
	}
	// Float arithmetic overflows to Infinity, and NaN stays NaN, as in
	// Python; both encode as Python's json writes them.
	return op(a, b).value()
}

// smallInts reads two int64 arguments: the common case, without big.Int.
func smallInts(args []any) (int64, int64, bool) {
	a, ok1 := args[0].(json.Number)
	b, ok2 := args[1].(json.Number)
	if !ok1 || !ok2 || len(a) > 19 || len(b) > 19 {
		return 0, 0, false
	}
	x, err1 := strconv.ParseInt(string(a), 10, 64)
	y, err2 := strconv.ParseInt(string(b), 10, 64)
	return x, y, err1 == nil && err2 == nil
}

func builtinAdd(_ context.Context, args []any) (any, error) {
	if x, y, ok := smallInts(args); ok {
		if s := x + y; (s > x) == (y > 0) {
			return s, nil
		}
	}
	return arith("add", args, func(a, b number) number {
		if a.isInt && b.isInt {
			return number{i: new(big.Int).Add(a.i, b.i), isInt: true}
		}
		return number{f: a.float() + b.float()}
	})
}

func builtinMul(_ context.Context, args []any) (any, error) {
	if x, y, ok := smallInts(args); ok {
		if hi, lo := bits.Mul64(uint64(abs64(x)), uint64(abs64(y))); hi == 0 && lo <= math.MaxInt64 && x != math.MinInt64 && y != math.MinInt64 {
			return x * y, nil
		}
	}
	return arith("mul", args, func(a, b number) number {
		if a.isInt && b.isInt {
			return number{i: new(big.Int).Mul(a.i, b.i), isInt: true}
		}
		return number{f: a.float() * b.float()}
	})
}

// sumCheckEvery is how many items sum adds between looks at its context.
const sumCheckEvery = 1024

func builtinSum(ctx context.Context, args []any) (any, error) {
	list, ok := args[0].([]any)
	if !ok {
		return nil, badArgs("sum(): argument 'xs': want a list, got %s", jsonType(args[0]))
	}
	acc := number{i: new(big.Int), isInt: true}
	for i, v := range list {
		if i%sumCheckEvery == sumCheckEvery-1 && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		n, err := toNumber("sum", fmt.Sprintf("xs[%d]", i), v)
		if err != nil {
			return nil, err
		}
		if acc.isInt && n.isInt {
			acc.i.Add(acc.i, n.i)
		} else {
			acc = number{f: acc.float() + n.float()}
		}
	}
	return acc.value()
}

// echo returns its argument, or the list of its arguments when given
// several, or its keyword arguments when given only those, or both as
// {"args", "kwargs"} when given both.
func builtinEcho(_ context.Context, t *celery.Task) (any, error) {
	switch {
	case len(t.Args) == 1 && len(t.Kwargs) == 0:
		return t.Args[0], nil
	case len(t.Args) == 0 && len(t.Kwargs) > 0:
		return t.Kwargs, nil
	case len(t.Kwargs) == 0:
		if t.Args == nil {
			return []any{}, nil
		}
		return t.Args, nil
	}
	return map[string]any{"args": t.Args, "kwargs": t.Kwargs}, nil
}

// sleep waits the given seconds (honouring cancellation) and returns them.
func builtinSleep(ctx context.Context, args []any) (any, error) {
	n, err := toNumber("sleep", "seconds", args[0])
	if err != nil {
		return nil, err
	}
	s := n.float()
	if s < 0 || s > 1e7 {
		return nil, badArgs("sleep(): %v seconds is out of range", s)
	}
	timer := time.NewTimer(time.Duration(s * float64(time.Second)))
	defer timer.Stop()
	select {
	case <-timer.C:
		return n.value()
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// fail raises TaskError with the given message.
func builtinFail(_ context.Context, args []any) (any, error) {
	msg, ok := args[0].(string)
	if !ok {
		b, _ := celery.AppendJSON(nil, args[0])
		msg = string(b)
	}
	return nil, &celery.RemoteError{Type: "TaskError", Module: celery.ErrorModule, Message: []any{msg}}
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a bool"
	case string:
		return "a string"
	case json.Number, float64, int, int64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
