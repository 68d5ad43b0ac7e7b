package proofs

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/filecoin-project/go-state-types/abi"
)

// pAuxSize: p_aux is comm_c followed by comm_r_last, like Filecoin's.
const pAuxSize = 2 * nodeSize

func writePAux(cacheDir string, commC, commRLast node) error {
	return os.WriteFile(filepath.Join(cacheDir, PAuxFile), append(commC[:], commRLast[:]...), 0o644)
}

func readPAux(cacheDir string) (commC, commRLast node, err error) {
	f, err := openSized(filepath.Join(cacheDir, PAuxFile), pAuxSize)
	if err != nil {
		return node{}, node{}, err
	}
	defer f.Close()
	var buf [pAuxSize]byte
	if _, err := io.ReadFull(f, buf[:]); err != nil {
		return node{}, node{}, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return node(buf[:nodeSize]), node(buf[nodeSize:]), nil
}

// commR binds the column commitment (hence the labels) and the replica.
func commR(commC, commRLast node) node {
	return hashTrunc(append(commC[:], commRLast[:]...))
}

// tAux records how a sector's trees are laid out. Provers read the
// tree-r-last storage (rows discarded) from it; the rest documents the
// cache dir for people and tools.
type tAux struct {
	ProofType abi.RegisteredSealProof `json:"registered_proof"`
	Layers    int                     `json:"layers"`
	TreeD     treeShape               `json:"tree_d"`
	TreeC     treeShape               `json:"tree_c"`
	TreeRLast treeShape               `json:"tree_r_last"`
}

func writeTAux(cacheDir string, t tAux) error {
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cacheDir, TAuxFile), data, 0o644)
}

// readTreeRLastShape reads the tree-r-last layout of a sector from t_aux
// and checks it describes the tree the proof type commits to.
func readTreeRLastShape(sp sectorParams, cacheDir string) (treeShape, error) {
	path := filepath.Join(cacheDir, TAuxFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return treeShape{}, err
	}
	var t tAux
	if err := json.Unmarshal(data, &t); err != nil {
		return treeShape{}, fmt.Errorf("%s: %w: %v", path, errCorrupt, err)
	}
	if !t.TreeRLast.sameTree(treeRLastShape(sp)) || t.TreeRLast.StoreLeaves || t.TreeRLast.validate() != nil {
		return treeShape{}, fmt.Errorf("%s: %w: tree-r-last layout %+v does not fit a %s sector", path, errCorrupt, t.TreeRLast, sp.name)
	}
	return t.TreeRLast, nil
}

// openReplicaTree opens a sealed sector's replica and tree-r-last for
// openings. The caller closes both.
func openReplicaTree(sp sectorParams, cacheDir, sealedPath string) (*treeReader, *os.File, error) {
	shape, err := readTreeRLastShape(sp, cacheDir)
	if err != nil {
		return nil, nil, err
	}
	sealed, err := openSized(sealedPath, int64(sp.size))
	if err != nil {
		return nil, nil, err
	}
	tree, err := openTree(shape, cacheDir, sp.cacheFiles().TreeRLast, sealed)
	if err != nil {
		sealed.Close()
		return nil, nil, err
	}
	return tree, sealed, nil
}
