package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"sort"
	"strconv"
	"time"

	"github.com/dsys-dev/dsys/queue/celery"
)

// builtins are the tasks every worker can serve without configuration.
var builtins = map[string]TaskFunc{
	"add":   builtinAdd,
	"mul":   builtinMul,
	"sum":   builtinSum,
	"echo":  builtinEcho,
	"sleep": builtinSleep,
	"fail":  builtinFail,
}

// Builtin returns the built-in task function called name: add(x, y),
// mul(x, y), sum(list), echo(value...), sleep(seconds), fail(message).
func Builtin(name string) (TaskFunc, bool) {
	f, ok := builtins[name]
	return f, ok
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

// RegisterBuiltins registers every built-in under its bare name.
func RegisterBuiltins(r *Registry) error {
	for _, n := range BuiltinNames() {
		if r.Lookup(n) != nil {
			continue
		}
		if err := r.Register(TaskDef{Name: n, Func: builtins[n]}); err != nil {
			return err
		}
	}
	return nil
}

func badArgs(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadArgs}, args...)...)
}

// number is an exact integer when possible, else a float (as in Python).
type number struct {
	i     *big.Int
	f     float64
	isInt bool
}

func toNumber(task string, pos int, v any) (number, error) {
	switch x := v.(type) {
	case json.Number:
		s := x.String()
		if i, ok := new(big.Int).SetString(s, 10); ok {
			return number{i: i, isInt: true}, nil
		}
		f, err := x.Float64()
		if err != nil {
			return number{}, badArgs("%s: argument %d: %q is not a number", task, pos, s)
		}
		return number{f: f}, nil
	case float64:
		return number{f: x}, nil
	case int:
		return number{i: big.NewInt(int64(x)), isInt: true}, nil
	case int64:
		return number{i: big.NewInt(x), isInt: true}, nil
	}
	return number{}, badArgs("%s: argument %d: want a number, got %s", task, pos, jsonType(v))
}

func (n number) float() float64 {
	if n.isInt {
		f, _ := new(big.Float).SetInt(n.i).Float64()
		return f
	}
	return n.f
}

// value renders n for JSON: integers exactly, floats as floats.
func (n number) value() any {
	if n.isInt {
		return json.Number(n.i.String())
	}
	return n.f
}

func arith(task string, args []any, kwargs map[string]any, op func(a, b number) number) (any, error) {
	if len(kwargs) > 0 {
		return nil, badArgs("%s: takes no keyword arguments", task)
	}
	if len(args) != 2 {
		return nil, badArgs("%s: takes 2 arguments, got %d", task, len(args))
	}
	a, err := toNumber(task, 0, args[0])
	if err != nil {
		return nil, err
	}
	b, err := toNumber(task, 1, args[1])
	if err != nil {
		return nil, err
	}
	r := op(a, b)
	if !r.isInt && (math.IsInf(r.f, 0) || math.IsNaN(r.f)) {
		return nil, celery.Exception("builtins", "OverflowError", task+": result out of range")
	}
	return r.value(), nil
}

// smallInts reads two int64 arguments: the common case, without big.Int.
func smallInts(args []any, kwargs map[string]any) (int64, int64, bool) {
	if len(args) != 2 || len(kwargs) > 0 {
		return 0, 0, false
	}
	a, ok1 := args[0].(json.Number)
	b, ok2 := args[1].(json.Number)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	x, err1 := strconv.ParseInt(string(a), 10, 64)
	y, err2 := strconv.ParseInt(string(b), 10, 64)
	return x, y, err1 == nil && err2 == nil
}

func builtinAdd(_ context.Context, t *celery.Task) (any, error) {
	if x, y, ok := smallInts(t.Args, t.Kwargs); ok {
		if s := x + y; (s > x) == (y > 0) {
			return s, nil
		}
	}
	return arith("add", t.Args, t.Kwargs, func(a, b number) number {
		if a.isInt && b.isInt {
			return number{i: new(big.Int).Add(a.i, b.i), isInt: true}
		}
		return number{f: a.float() + b.float()}
	})
}

func builtinMul(_ context.Context, t *celery.Task) (any, error) {
	if x, y, ok := smallInts(t.Args, t.Kwargs); ok {
		if hi, lo := bits.Mul64(uint64(abs64(x)), uint64(abs64(y))); hi == 0 && lo <= math.MaxInt64 && x != math.MinInt64 && y != math.MinInt64 {
			return x * y, nil
		}
	}
	return arith("mul", t.Args, t.Kwargs, func(a, b number) number {
		if a.isInt && b.isInt {
			return number{i: new(big.Int).Mul(a.i, b.i), isInt: true}
		}
		return number{f: a.float() * b.float()}
	})
}

func builtinSum(_ context.Context, t *celery.Task) (any, error) {
	if len(t.Kwargs) > 0 {
		return nil, badArgs("sum: takes no keyword arguments")
	}
	if len(t.Args) != 1 {
		return nil, badArgs("sum: takes 1 argument (a list), got %d", len(t.Args))
	}
	list, ok := t.Args[0].([]any)
	if !ok {
		return nil, badArgs("sum: want a list, got %s", jsonType(t.Args[0]))
	}
	acc := number{i: new(big.Int), isInt: true}
	for i, v := range list {
		n, err := toNumber("sum", i, v)
		if err != nil {
			return nil, err
		}
		if acc.isInt && n.isInt {
			acc.i.Add(acc.i, n.i)
		} else {
			acc = number{f: acc.float() + n.float()}
		}
	}
	return acc.value(), nil
}

// echo returns its argument, or the list of its arguments when given
// several, or its keyword arguments when given only those.
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
func builtinSleep(ctx context.Context, t *celery.Task) (any, error) {
	if len(t.Args) != 1 || len(t.Kwargs) > 0 {
		return nil, badArgs("sleep: takes 1 argument (seconds), got %d", len(t.Args)+len(t.Kwargs))
	}
	n, err := toNumber("sleep", 0, t.Args[0])
	if err != nil {
		return nil, err
	}
	s := n.float()
	if s < 0 || s > 1e7 {
		return nil, badArgs("sleep: %v seconds is out of range", s)
	}
	timer := time.NewTimer(time.Duration(s * float64(time.Second)))
	defer timer.Stop()
	select {
	case <-timer.C:
		return n.value(), nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// fail raises TaskError with the given message.
func builtinFail(_ context.Context, t *celery.Task) (any, error) {
	msg := "fail"
	if len(t.Args) > 0 {
		if s, ok := t.Args[0].(string); ok {
			msg = s
		} else {
			b, _ := celery.AppendJSON(nil, t.Args[0])
			msg = string(b)
		}
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
