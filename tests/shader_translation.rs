//! Every shader, parsed and validated by the naga version wgpu uses, translates to SPIR-V (Vulkan), MSL
//! (Metal), HLSL (DX12) and GLSL ES 3.1 compute (OpenGL) for every entry point, with each set of values
//! the host gives its pipeline-overridable constants: a shader that would break on a backend this
//! machine does not have fails here. (Files with 64-bit integers skip GLSL, whose backend never has them.)

use gan_wgpu::kernels::{PREPENDED_FILES, Shader};
use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};

#[test]
fn every_shader_translates_to_all_four_targets() {
    // shaders/ and shaders/cpu/ (the CPU adapters' kernels), as Shader::file_name names them.
    let files: Vec<&str> = ["", "cpu/"]
        .iter()
        .flat_map(|folder| {
            let dir = format!("{}/shaders/{folder}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_dir(dir)
                .unwrap()
                .map(move |e| format!("{folder}{}", e.unwrap().file_name().to_string_lossy()))
        })
        .filter(|n| n.ends_with(".wgsl") && !PREPENDED_FILES.contains(&n.as_str()))
        .map(|n| Box::leak(n.into_boxed_str()) as &str)
        .collect();
    assert!(files.iter().any(|f| f.starts_with("cpu/")), "{files:?}");
    let covered: Vec<&str> = Shader::ALL.iter().map(|s| s.file_name()).collect();
    for f in &files {
        assert!(
            covered.contains(f),
            "shaders/{f} is not built by any Shader"
        );
    }
    // (file, entry point, override set) each target translated, and every one that exists.
    let mut translated: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let mut all = Vec::new();
    let mut without_int64 = Vec::new();
    for shader in Shader::ALL {
        let name = shader.file_name();
        let module = naga::front::wgsl::parse_str(&shader.source())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The capabilities wgpu grants a device with no extra features, or with `Features::SUBGROUP`
        // for the files that need it (the host asks for it only where the adapter has it).
        let (mut capabilities, subgroup_operations) = if shader.needs_subgroups() {
            (
                Capabilities::SUBGROUP,
                naga::valid::SubgroupOperationSet::all(),
            )
        } else {
            (
                Capabilities::empty(),
                naga::valid::SubgroupOperationSet::empty(),
            )
        };
        // Likewise `Features::SHADER_INT64` for the files with 64-bit integers.
        if shader.needs_int64() {
            capabilities |= Capabilities::SHADER_INT64;
        }
        let info = Validator::new(ValidationFlags::all(), capabilities)
            .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
            .subgroup_operations(subgroup_operations)
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(!module.entry_points.is_empty(), "{name} has no entry point");
        for values in shader.constant_sets() {
            let constants: naga::back::PipelineConstants = values
                .iter()
                .map(|&(name, value)| (name.to_string(), value))
                .collect();
            for entry in &module.entry_points {
                let what = format!("{name}::{} with {values:?}", entry.name);
                all.push(what.clone());
                if !shader.needs_int64() {
                    without_int64.push(what.clone());
                }
                let (module, info) = naga::back::pipeline_constants::process_overrides(
                    &module,
                    &info,
                    Some((entry.stage, &entry.name)),
                    &constants,
                )
                .unwrap_or_else(|e| panic!("{what}: {e}"));
                let (module, info) = (module.as_ref(), info.as_ref());
                // Variants carry a suffix: batchnorm_forward_train, linear_forward_split, …
                assert!(
                    entry.name.contains("_forward")
                        || entry.name.contains("_backward")
                        || matches!(
                            entry.name.as_str(),
                            "adam_update"
                                | "adam_update_vec4"
                                | "adam_update_u64"
                                | "noise_uniform"
                                | "batch_gather"
                        ),
                    "{what}: entry points are named <op>_<forward|backward…>"
                );
                let spv_pipeline = spv::PipelineOptions {
                    shader_stage: entry.stage,
                    entry_point: entry.name.clone(),
                };
                spv::write_vec(module, info, &spv::Options::default(), Some(&spv_pipeline))
                    .unwrap_or_else(|e| panic!("{what} → SPIR-V: {e}"));
                translated.entry("SPIR-V").or_default().push(what.clone());

                let msl_pipeline = msl::PipelineOptions {
                    entry_point: Some((entry.stage, entry.name.clone())),
                    ..Default::default()
                };
                msl::write_string(module, info, &msl::Options::default(), &msl_pipeline)
                    .unwrap_or_else(|e| panic!("{what} → MSL: {e}"));
                translated.entry("MSL").or_default().push(what.clone());

                let hlsl_options = hlsl::Options::default();
                let hlsl_pipeline = hlsl::PipelineOptions {
                    entry_point: Some((entry.stage, entry.name.clone())),
                };
                let mut hlsl_out = String::new();
                hlsl::Writer::new(&mut hlsl_out, &hlsl_options, &hlsl_pipeline)
                    .write(module, info, None)
                    .unwrap_or_else(|e| panic!("{what} → HLSL: {e}"));
                translated.entry("HLSL").or_default().push(what.clone());

                // wgpu's OpenGL backend has no `Features::SHADER_INT64`, so no device there builds
                // the 64-bit files.
                if shader.needs_int64() {
                    continue;
                }
                let glsl_options = glsl::Options {
                    version: glsl::Version::Embedded {
                        version: 310,
                        is_webgl: false,
                    },
                    ..Default::default()
                };
                let glsl_pipeline = glsl::PipelineOptions {
                    shader_stage: entry.stage,
                    entry_point: entry.name.clone(),
                    multiview: None,
                };
                let mut glsl_out = String::new();
                glsl::Writer::new(
                    &mut glsl_out,
                    module,
                    info,
                    &glsl_options,
                    &glsl_pipeline,
                    Default::default(),
                )
                .and_then(|mut w| w.write())
                .unwrap_or_else(|e| panic!("{what} → GLSL: {e}"));
                translated.entry("GLSL").or_default().push(what.clone());
            }
        }
        let declared = shader.source().matches("@compute").count();
        assert_eq!(
            module.entry_points.len(),
            declared,
            "{name}: every @compute entry point is translated"
        );
    }
    // Every entry point with every override set, on each target; GLSL all but the 64-bit files'.
    assert!(all.len() > 100, "only {} entry points found", all.len());
    for target in ["SPIR-V", "MSL", "HLSL"] {
        assert_eq!(translated[target], all, "{target}");
    }
    assert_eq!(translated["GLSL"], without_int64, "GLSL");
    let int64 = all.len() - without_int64.len();
    assert!(
        int64 > 0 && int64 < 10,
        "{int64} entry points use 64-bit integers (adam_u64, activation_u64)"
    );
    eprintln!(
        "{} entry points (with their override sets) translated to SPIR-V, MSL and HLSL; {} to GLSL",
        all.len(),
        without_int64.len()
    );
}
