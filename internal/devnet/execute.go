package devnet

import (
	"bytes"
	"fmt"

	"github.com/filecoin-project/go-address"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"
	"github.com/filecoin-project/go-state-types/builtin"
	"github.com/filecoin-project/go-state-types/exitcode"
	"github.com/ipfs/go-cid"
	cbg "github.com/whyrusleeping/cbor-gen"
)

// actorError is a failed message: the exit code its receipt carries and
// the reason, which the devnet keeps next to the receipt.
type actorError struct {
	code exitcode.ExitCode
	msg  string
}

func (e *actorError) Error() string { return fmt.Sprintf("exit code %d: %s", e.code, e.msg) }

func fail(code exitcode.ExitCode, format string, args ...any) *actorError {
	return &actorError{code: code, msg: fmt.Sprintf(format, args...)}
}

// call is one method invocation on an actor.
type call struct {
	caller abi.ActorID
	epoch  abi.ChainEpoch
	value  abi.TokenAmount
	params []byte
	msg    cid.Cid
	// origin and nonce feed the robust address of an actor the call
	// creates, as Lotus's init actor derives it.
	origin address.Address
	nonce  uint64
	// note explains what failed inside a message that succeeded overall
	// (a batch's rejected items); it is kept next to the receipt.
	note string
}

// decodeParams reads a method's CBOR parameters; a failure is the
// actor's serialization error, as in the real actors.
func decodeParams(params []byte, v cbg.CBORUnmarshaler) *actorError {
	if err := v.UnmarshalCBOR(bytes.NewReader(params)); err != nil {
		return fail(exitcode.ErrSerialization, "failed to decode parameters: %v", err)
	}
	return nil
}

func encodeReturn(v cbg.CBORMarshaler) []byte {
	var buf bytes.Buffer
	if err := v.MarshalCBOR(&buf); err != nil {
		panic(fmt.Sprintf("devnet: encode return value: %v", err))
	}
	return buf.Bytes()
}

// execute runs a message at epoch and records its receipt.
func (c *Chain) execute(rec *msgRecord, epoch abi.ChainEpoch) {
	rec.Executed, rec.Epoch = true, epoch
	ret, note, err := c.apply(&rec.Message, rec.Cid, epoch)
	if err != nil {
		rec.Receipt = Receipt{ExitCode: err.code}
		rec.Error = err.msg
		if !c.replaying {
			log.Infow("message failed", "cid", rec.Cid, "to", rec.Message.To, "method", rec.Message.Method, "exitcode", err.code, "error", err.msg)
		}
		return
	}
	rec.Receipt = Receipt{ExitCode: exitcode.Ok, Return: ret}
	rec.Error = note
}

// apply validates the sender, moves the value and invokes the method; a
// failed method leaves the state as it was, the sender's nonce excepted.
func (c *Chain) apply(msg *Message, msgCid cid.Cid, epoch abi.ChainEpoch) (ret []byte, note string, err *actorError) {
	from, ok := c.resolve(msg.From)
	if !ok || from.Kind != ActorAccount || from.WalletKey == 0 {
		return nil, "", fail(exitcode.SysErrSenderInvalid, "sender %s is not a devnet wallet address: the devnet signs only for its own wallet", msg.From)
	}
	if msg.Nonce != from.Nonce {
		return nil, "", fail(exitcode.SysErrSenderStateInvalid, "message nonce %d, sender's nonce is %d", msg.Nonce, from.Nonce)
	}
	from.Nonce++
	if from.Balance.LessThan(msg.Value) {
		return nil, "", fail(exitcode.SysErrInsufficientFunds, "sender balance %s is less than the value %s", from.Balance, msg.Value)
	}
	to, ok := c.resolve(msg.To)
	if !ok {
		key := msg.To.Protocol() == address.SECP256K1 || msg.To.Protocol() == address.BLS
		if !key {
			return nil, "", fail(exitcode.SysErrInvalidReceiver, "no actor at %s", msg.To)
		}
		if msg.Method != builtin.MethodSend {
			return nil, "", fail(exitcode.SysErrInvalidMethod, "the account at %s has no method %d", msg.To, msg.Method)
		}
		// Like Lotus, a transfer to a new key address creates its account.
		to = &actor{ID: c.freeID(firstAccountID), Kind: ActorAccount, Address: msg.To, Balance: big.Zero()}
		c.addActor(to)
	}
	from.Balance = big.Sub(from.Balance, msg.Value)
	to.Balance = big.Add(to.Balance, msg.Value)
	cl := &call{caller: from.ID, epoch: epoch, value: msg.Value, params: msg.Params, msg: msgCid, origin: from.Address, nonce: msg.Nonce}
	ret, err = c.invoke(to, msg.Method, cl)
	if err != nil {
		to.Balance = big.Sub(to.Balance, msg.Value)
		from.Balance = big.Add(from.Balance, msg.Value)
		return nil, "", err
	}
	return ret, cl.note, nil
}

func (c *Chain) invoke(to *actor, method abi.MethodNum, cl *call) ([]byte, *actorError) {
	if method == builtin.MethodSend {
		return nil, nil
	}
	switch to.Kind {
	case ActorPower:
		if method == builtin.MethodsPower.CreateMiner || method == builtin.MethodsPower.CreateMinerExported {
			return c.powerCreateMiner(cl)
		}
	case ActorMiner:
		if h, ok := minerMethods[method]; ok {
			return h(c, c.st.Miners[to.ID], cl)
		}
	}
	return nil, fail(exitcode.SysErrInvalidMethod, "the %s actor has no method %d on the devnet", to.Kind, method)
}
