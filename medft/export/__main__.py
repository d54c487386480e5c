"""`python -m medft.export run_dir=... format=merged|gguf|onnx [out=...]` (conf/export.yaml)."""


def main() -> None:
    from medft.cli import hydra_main
    from medft.export.recipe import run

    hydra_main("export", run)


if __name__ == "__main__":
    main()
