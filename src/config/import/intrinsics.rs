//! CloudFormation intrinsic functions, evaluated on the document tree.
//!
//! Only App Mesh resources are evaluated, lazily, so a template's ECS or IAM resources never
//! need parameter values. Results take the span of the intrinsic that produced them, so a bad
//! value from `!Ref Weight` is reported at that `!Ref`.
//!
//! Choices where CloudFormation needs AWS to answer:
//! - `Ref` to an App Mesh resource gives its *name*, not its ARN: real templates (and the App
//!   Mesh overview's example) use `!Ref Node` where a name is expected, which only works
//!   because App Mesh accepts the ARN's last segment; the name is what the model needs.
//! - `Fn::ImportValue NAME` takes `--param NAME=VALUE`, else the placeholder `import:NAME`
//!   with a note (cross-stack values such as certificate ARNs rarely matter to a simulation).
//! - Pseudo parameters take fixed stand-ins (region `us-east-1`, account `123456789012`,
//!   partition `aws`, the file's stem as the stack name), each replaced by `--param
//!   AWS::Region=eu-west-1` and the like; ARNs and `Fn::GetAZs` are built from the same values.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::diagnostic::Diagnostics;
use crate::config::source::{FileId, Loc, Span};
use crate::config::tree::{Node, Value, join_index, join_key};

/// The pseudo parameters `--param` can set: the ones [`Pseudo`] resolves. `AWS::NoValue` is
/// resolved too but takes no value.
pub(crate) const PSEUDO_PARAMETERS: [&str; 6] = [
    "AWS::AccountId",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

/// The values of CloudFormation's pseudo parameters for one template: what `--param` gives,
/// else a fixed stand-in (AWS would answer with the deploying account's values).
pub(crate) struct Pseudo {
    account_id: String,
    partition: String,
    region: String,
    stack_id: String,
    stack_name: String,
    url_suffix: String,
}

impl Pseudo {
    /// `stack` stands in for the stack name unless `--param AWS::StackName` gives one.
    pub fn new(stack: &str, params: &BTreeMap<String, String>) -> Self {
        let given = |name: &str, default: &str| {
            params
                .get(name)
                .cloned()
                .unwrap_or_else(|| default.to_string())
        };
        let account_id = given("AWS::AccountId", "123456789012");
        let partition = given("AWS::Partition", "aws");
        let region = given("AWS::Region", "us-east-1");
        let stack_name = given("AWS::StackName", stack);
        let stack_id = given(
            "AWS::StackId",
            &format!(
                "arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/meshsim"
            ),
        );
        Pseudo {
            url_suffix: given("AWS::URLSuffix", "amazonaws.com"),
            account_id,
            partition,
            region,
            stack_id,
            stack_name,
        }
    }

    /// The value of a pseudo parameter, `None` for any other name.
    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "AWS::AccountId" => &self.account_id,
            "AWS::Partition" => &self.partition,
            "AWS::Region" => &self.region,
            "AWS::StackId" => &self.stack_id,
            "AWS::StackName" => &self.stack_name,
            "AWS::URLSuffix" => &self.url_suffix,
            _ => return None,
        })
    }
}

/// Evaluation failed; the reason is already in the diagnostics.
#[derive(Debug)]
pub(crate) struct Failed;

/// `Ok(None)` is `AWS::NoValue`: the enclosing key or list item disappears.
pub(crate) type Evaluated = Result<Option<Node>, Failed>;

/// The template-wide state intrinsics need.
pub(crate) struct Context<'t> {
    pub file: FileId,
    pub pseudo: Pseudo,
    /// Parameter values: `--param` overrides, else `Default`.
    pub params: BTreeMap<String, Option<Node>>,
    pub conditions: BTreeMap<String, &'t Node>,
    pub mappings: Option<&'t Node>,
    pub imports: BTreeMap<String, String>,
    /// The export names `Fn::ImportValue` asked for, given or not.
    pub imported: BTreeSet<String>,
    /// Logical id to (type, properties) of every resource in the template.
    pub resources: BTreeMap<String, (String, Option<&'t Node>)>,
    resolving: BTreeSet<String>,
    condition_values: BTreeMap<String, bool>,
    evaluating_conditions: BTreeSet<String>,
    reported: BTreeSet<String>,
}

impl<'t> Context<'t> {
    pub fn new(file: FileId, pseudo: Pseudo) -> Self {
        Context {
            file,
            pseudo,
            params: BTreeMap::new(),
            conditions: BTreeMap::new(),
            mappings: None,
            imports: BTreeMap::new(),
            imported: BTreeSet::new(),
            resources: BTreeMap::new(),
            resolving: BTreeSet::new(),
            condition_values: BTreeMap::new(),
            evaluating_conditions: BTreeSet::new(),
            reported: BTreeSet::new(),
        }
    }

    fn error(
        &self,
        diags: &mut Diagnostics,
        span: Span,
        path: &str,
        msg: impl Into<String>,
    ) -> Failed {
        diags.error("intrinsic", &Loc::new(self.file, span, path), msg);
        Failed
    }

    /// Evaluates every intrinsic in `node`.
    pub fn eval(&mut self, node: &Node, path: &str, diags: &mut Diagnostics) -> Evaluated {
        if let Some((func, arg)) = intrinsic(node) {
            return self.call(&func, &arg, node.span, path, diags);
        }
        match &node.value {
            Value::Scalar(..) => Ok(Some(node.clone())),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut failed = false;
                for (i, item) in items.iter().enumerate() {
                    match self.eval(item, &join_index(path, i), diags) {
                        Ok(Some(v)) => out.push(v),
                        Ok(None) => {}
                        Err(Failed) => failed = true,
                    }
                }
                if failed {
                    return Err(Failed);
                }
                Ok(Some(Node {
                    value: Value::Seq(out),
                    span: node.span,
                    tag: None,
                }))
            }
            Value::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                let mut failed = false;
                for (k, v) in entries {
                    match self.eval(v, &join_key(path, &k.written), diags) {
                        Ok(Some(v)) => out.push((k.clone(), v)),
                        Ok(None) => {}
                        Err(Failed) => failed = true,
                    }
                }
                if failed {
                    return Err(Failed);
                }
                Ok(Some(Node {
                    value: Value::Map(out),
                    span: node.span,
                    tag: None,
                }))
            }
        }
    }

    fn call(
        &mut self,
        func: &str,
        arg: &Node,
        span: Span,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Evaluated {
        let string = |s: String| Ok(Some(Node::string(s, span)));
        match func {
            "Ref" => {
                let name = self.scalar_arg(arg, func, span, path, diags)?;
                self.reference(&name, span, path, diags)
            }
            "Fn::GetAtt" => {
                let (logical, attr) = match &arg.value {
                    Value::Scalar(s, _) => match s.split_once('.') {
                        Some((l, a)) => (l.to_string(), a.to_string()),
                        None => {
                            return Err(self.error(
                                diags,
                                span,
                                path,
                                format!("Fn::GetAtt needs `Resource.Attribute`, found `{s}`"),
                            ));
                        }
                    },
                    Value::Seq(items) if items.len() == 2 => {
                        let l = self.eval_string(&items[0], path, diags)?;
                        let a = self.eval_string(&items[1], path, diags)?;
                        (l, a)
                    }
                    _ => {
                        return Err(self.error(
                            diags,
                            span,
                            path,
                            "Fn::GetAtt needs `Resource.Attribute` or [Resource, Attribute]",
                        ));
                    }
                };
                match self.attribute(&logical, &attr, span, path, diags) {
                    Some(v) => string(v),
                    // The attribute exists but its value failed: that is already reported.
                    None if self.has_property(&logical, &attr) => Err(Failed),
                    None => Err(self.error(
                        diags,
                        span,
                        path,
                        format!("Fn::GetAtt: no resource `{logical}` with attribute `{attr}` in this template"),
                    )),
                }
            }
            "Fn::Sub" => {
                let (template, vars) = match &arg.value {
                    Value::Scalar(s, _) => (s.clone(), None),
                    Value::Seq(items) if items.len() == 2 => {
                        let t = self.eval_string(&items[0], path, diags)?;
                        (t, Some(&items[1]))
                    }
                    _ => {
                        return Err(self.error(
                            diags,
                            span,
                            path,
                            "Fn::Sub needs a string or [string, {variables}]",
                        ));
                    }
                };
                let mut local = BTreeMap::new();
                if let Some(vars) = vars {
                    for (k, v) in vars.as_map().unwrap_or_default() {
                        let val = self.eval_string(v, &join_key(path, &k.written), diags)?;
                        local.insert(k.name.clone(), val);
                    }
                }
                let out = self.substitute(&template, &local, span, path, diags)?;
                string(out)
            }
            "Fn::Join" => {
                let items = self.list_arg(arg, 2, func, span, path, diags)?;
                let delim = self.eval_string(&items[0], path, diags)?;
                let list = self
                    .eval(&items[1], path, diags)?
                    .unwrap_or_else(|| Node::string("", span));
                let parts = list
                    .as_seq()
                    .ok_or_else(|| self.error(diags, span, path, "Fn::Join needs a list to join"))?
                    .iter()
                    .map(|n| n.scalar_text().unwrap_or_default().to_string())
                    .collect::<Vec<_>>();
                string(parts.join(&delim))
            }
            "Fn::Select" => {
                let items = self.list_arg(arg, 2, func, span, path, diags)?;
                let index = self.eval_string(&items[0], path, diags)?;
                let list = self
                    .eval(&items[1], path, diags)?
                    .unwrap_or_else(|| Node::string("", span));
                let chosen = index
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| list.as_seq().and_then(|s| s.get(i)).cloned());
                match chosen {
                    Some(mut n) => {
                        n.span = span;
                        Ok(Some(n))
                    }
                    None => Err(self.error(
                        diags,
                        span,
                        path,
                        format!("Fn::Select: index {index} is not in the list"),
                    )),
                }
            }
            "Fn::Split" => {
                let items = self.list_arg(arg, 2, func, span, path, diags)?;
                let delim = self.eval_string(&items[0], path, diags)?;
                let text = self.eval_string(&items[1], path, diags)?;
                if delim.is_empty() {
                    return Err(self.error(
                        diags,
                        span,
                        path,
                        "Fn::Split needs a non-empty delimiter",
                    ));
                }
                let parts = text
                    .split(delim.as_str())
                    .map(|p| Node::string(p, span))
                    .collect();
                Ok(Some(Node {
                    value: Value::Seq(parts),
                    span,
                    tag: None,
                }))
            }
            "Fn::If" => {
                let items = self.list_arg(arg, 3, func, span, path, diags)?;
                let cond = self.eval_string(&items[0], path, diags)?;
                let chosen = if self.condition(&cond, span, path, diags)? {
                    &items[1]
                } else {
                    &items[2]
                };
                self.eval(chosen, path, diags)
            }
            "Condition" => {
                let name = self.scalar_arg(arg, func, span, path, diags)?;
                let v = self.condition(&name, span, path, diags)?;
                Ok(Some(Node::plain(if v { "true" } else { "false" }, span)))
            }
            "Fn::Equals" => {
                let items = self.list_arg(arg, 2, func, span, path, diags)?;
                let a = self.eval(&items[0], path, diags)?;
                let b = self.eval(&items[1], path, diags)?;
                let text =
                    |n: &Option<Node>| n.as_ref().and_then(|n| n.scalar_text().map(str::to_string));
                let eq = text(&a) == text(&b);
                Ok(Some(Node::plain(if eq { "true" } else { "false" }, span)))
            }
            "Fn::Not" | "Fn::And" | "Fn::Or" => {
                let items = match &arg.value {
                    Value::Seq(items) if !items.is_empty() => items,
                    _ => {
                        return Err(self.error(
                            diags,
                            span,
                            path,
                            format!("{func} needs a list of conditions"),
                        ));
                    }
                };
                let mut values = Vec::new();
                for item in items {
                    let v = self.eval(item, path, diags)?;
                    values.push(self.truth(v.as_ref(), span, path, diags)?);
                }
                let v = match func {
                    "Fn::Not" => !values[0],
                    "Fn::And" => values.iter().all(|b| *b),
                    _ => values.iter().any(|b| *b),
                };
                Ok(Some(Node::plain(if v { "true" } else { "false" }, span)))
            }
            "Fn::FindInMap" => {
                let items = self.list_arg(arg, 3, func, span, path, diags)?;
                let keys: Vec<String> = items
                    .iter()
                    .map(|i| self.eval_string(i, path, diags))
                    .collect::<Result<_, _>>()?;
                let found = self
                    .mappings
                    .and_then(|m| m.get(&keys[0]))
                    .and_then(|m| m.get(&keys[1]))
                    .and_then(|m| m.get(&keys[2]))
                    .cloned();
                match found {
                    Some(mut n) => {
                        n.span = span;
                        Ok(Some(n))
                    }
                    None => Err(self.error(
                        diags,
                        span,
                        path,
                        format!(
                            "Fn::FindInMap: no entry {}/{}/{} in Mappings",
                            keys[0], keys[1], keys[2]
                        ),
                    )),
                }
            }
            "Fn::ImportValue" => {
                let name = self.eval_string(arg, path, diags)?;
                self.imported.insert(name.clone());
                if let Some(v) = self.imports.get(&name) {
                    return string(v.clone());
                }
                if self.reported.insert(format!("import:{name}")) {
                    diags
                        .note(
                            "import-value",
                            &Loc::new(self.file, span, path),
                            format!("cross-stack export `{name}` is not known here; using the placeholder `import:{name}`"),
                        )
                        .help = Some(format!("pass --param {name}=VALUE to set it"));
                }
                string(format!("import:{name}"))
            }
            "Fn::Base64" => {
                let s = self.eval_string(arg, path, diags)?;
                string(s)
            }
            "Fn::GetAZs" => {
                let azs = ["a", "b", "c"]
                    .iter()
                    .map(|z| Node::string(format!("{}{z}", self.pseudo.region), span))
                    .collect();
                Ok(Some(Node {
                    value: Value::Seq(azs),
                    span,
                    tag: None,
                }))
            }
            other => Err(self.error(
                diags,
                span,
                path,
                format!("intrinsic function `{other}` is not supported by meshsim"),
            )),
        }
    }

    fn reference(
        &mut self,
        name: &str,
        span: Span,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Evaluated {
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        if let Some(v) = self.pseudo.get(name) {
            return Ok(Some(Node::string(v.to_string(), span)));
        }
        if let Some(value) = self.params.get(name).cloned() {
            return match value {
                Some(mut v) => {
                    v.span = span;
                    Ok(Some(v))
                }
                None => {
                    if self.reported.insert(format!("param:{name}")) {
                        diags
                            .error(
                                "parameter",
                                &Loc::new(self.file, span, path),
                                format!("template parameter `{name}` has no value and no Default"),
                            )
                            .help = Some(format!("pass --param {name}=VALUE"));
                    }
                    Err(Failed)
                }
            };
        }
        match self.resource_ref(name, span, path, diags) {
            Some(v) => Ok(Some(Node::string(v, span))),
            None => Err(self.error(
                diags,
                span,
                path,
                format!(
                    "Ref `{name}` names no parameter, pseudo parameter or resource of this template"
                ),
            )),
        }
    }

    /// `Ref Logical`: an App Mesh resource gives its name (see the module docs); any other
    /// resource its logical id, standing in for the physical id AWS would assign.
    fn resource_ref(
        &mut self,
        logical: &str,
        span: Span,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<String> {
        let (ty, _) = self.resources.get(logical)?.clone();
        match super::cloudformation::name_property(&ty) {
            Some(prop) => Some(
                self.property_string(logical, prop, span, path, diags)
                    .unwrap_or_else(|| logical.to_string()),
            ),
            None => Some(logical.to_string()),
        }
    }

    /// `Fn::GetAtt Logical.Attribute`.
    fn attribute(
        &mut self,
        logical: &str,
        attr: &str,
        span: Span,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<String> {
        let (ty, props) = self.resources.get(logical)?.clone();
        let app_mesh = ty.starts_with("AWS::AppMesh::");
        if app_mesh {
            match attr {
                "Arn" => return Some(self.arn(logical, &ty, span, path, diags)),
                "Uid" => return Some(format!("{logical}-uid")),
                "MeshOwner" | "ResourceOwner" => return Some(self.pseudo.account_id.clone()),
                _ => {}
            }
        }
        if props.and_then(|p| p.get(attr)).is_some() {
            return self.property_string(logical, attr, span, path, diags);
        }
        if app_mesh && super::cloudformation::name_property(&ty) == Some(attr) {
            // A name CloudFormation would generate: the logical id stands in for it.
            return Some(logical.to_string());
        }
        if app_mesh {
            return None;
        }
        Some(format!("{logical}.{attr}"))
    }

    fn arn(
        &mut self,
        logical: &str,
        ty: &str,
        span: Span,
        path: &str,
        diags: &mut Diagnostics,
    ) -> String {
        let mut get = |this: &mut Self, prop: &str| {
            this.property_string(logical, prop, span, path, diags)
                .unwrap_or_else(|| logical.to_string())
        };
        let mesh = get(self, "MeshName");
        let kind = ty.trim_start_matches("AWS::AppMesh::");
        let tail = match kind {
            "Mesh" => String::new(),
            "Route" => format!(
                "/virtualRouter/{}/route/{}",
                get(self, "VirtualRouterName"),
                get(self, "RouteName")
            ),
            "GatewayRoute" => format!(
                "/virtualGateway/{}/gatewayRoute/{}",
                get(self, "VirtualGatewayName"),
                get(self, "GatewayRouteName")
            ),
            other => {
                let prop = format!("{other}Name");
                let mut camel = other.to_string();
                camel[..1].make_ascii_lowercase();
                format!("/{camel}/{}", get(self, &prop))
            }
        };
        let Pseudo {
            partition,
            region,
            account_id,
            ..
        } = &self.pseudo;
        format!("arn:{partition}:appmesh:{region}:{account_id}:mesh/{mesh}{tail}")
    }

    fn has_property(&self, logical: &str, prop: &str) -> bool {
        self.resources
            .get(logical)
            .and_then(|r| r.1)
            .is_some_and(|p| p.get(prop).is_some())
    }

    /// Evaluates one property of another resource, guarding against reference cycles.
    fn property_string(
        &mut self,
        logical: &str,
        prop: &str,
        span: Span,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<String> {
        let node = self.resources.get(logical)?.1?.get(prop)?;
        if !self.resolving.insert(logical.to_string()) {
            self.error(
                diags,
                span,
                path,
                format!("`{logical}` refers to itself through `{prop}`"),
            );
            return None;
        }
        let ppath = format!("Resources.{logical}.Properties.{prop}");
        let v = self.eval_string(node, &ppath, diags).ok();
        self.resolving.remove(logical);
        v
    }

    /// Fn::Sub's `${X}`, `${X.Attr}` and `${!Literal}`.
    fn substitute(
        &mut self,
        template: &str,
        local: &BTreeMap<String, String>,
        span: Span,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Result<String, Failed> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(self.error(diags, span, path, "Fn::Sub: `${` without a closing `}`"));
            };
            let name = after[..end].trim();
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = local.get(name) {
                out.push_str(v);
            } else if let Some((logical, attr)) =
                name.split_once('.').filter(|_| !name.starts_with("AWS::"))
            {
                match self.attribute(logical, attr, span, path, diags) {
                    Some(v) => out.push_str(&v),
                    None if self.has_property(logical, attr) => return Err(Failed),
                    None => {
                        return Err(self.error(
                            diags,
                            span,
                            path,
                            format!("Fn::Sub: no resource `{logical}` with attribute `{attr}`"),
                        ));
                    }
                }
            } else {
                let v = self.reference(name, span, path, diags)?;
                out.push_str(v.as_ref().and_then(|n| n.scalar_text()).unwrap_or_default());
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The value of a named condition, evaluated once.
    fn condition(
        &mut self,
        name: &str,
        span: Span,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Result<bool, Failed> {
        if let Some(v) = self.condition_values.get(name) {
            return Ok(*v);
        }
        let Some(node) = self.conditions.get(name).copied() else {
            return Err(self.error(
                diags,
                span,
                path,
                format!("no condition `{name}` in Conditions"),
            ));
        };
        if !self.evaluating_conditions.insert(name.to_string()) {
            return Err(self.error(
                diags,
                span,
                path,
                format!("condition `{name}` depends on itself"),
            ));
        }
        let cpath = format!("Conditions.{name}");
        let v = self.eval(node, &cpath, diags);
        self.evaluating_conditions.remove(name);
        let v = self.truth(v?.as_ref(), node.span, &cpath, diags)?;
        self.condition_values.insert(name.to_string(), v);
        Ok(v)
    }

    /// A condition result as a bool; a bare string inside And/Or/Not names a condition.
    fn truth(
        &mut self,
        v: Option<&Node>,
        span: Span,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Result<bool, Failed> {
        match v.and_then(Node::scalar_text) {
            Some("true" | "True") => Ok(true),
            Some("false" | "False") => Ok(false),
            Some(name) if self.conditions.contains_key(name) => {
                let name = name.to_string();
                self.condition(&name, span, path, diags)
            }
            _ => Err(self.error(diags, span, path, "expected a condition (true or false)")),
        }
    }

    fn eval_string(
        &mut self,
        node: &Node,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Result<String, Failed> {
        let v = self.eval(node, path, diags)?;
        match v.as_ref().and_then(Node::scalar_text) {
            Some(s) => Ok(s.to_string()),
            None => Err(self.error(diags, node.span, path, "expected a string here")),
        }
    }

    fn scalar_arg(
        &self,
        arg: &Node,
        func: &str,
        span: Span,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Result<String, Failed> {
        arg.scalar_text()
            .map(str::to_string)
            .ok_or_else(|| self.error(diags, span, path, format!("{func} needs a name")))
    }

    fn list_arg<'a>(
        &self,
        arg: &'a Node,
        n: usize,
        func: &str,
        span: Span,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Result<&'a [Node], Failed> {
        match arg.as_seq() {
            Some(items) if items.len() == n => Ok(items),
            _ => Err(self.error(
                diags,
                span,
                path,
                format!("{func} needs a list of {n} items"),
            )),
        }
    }
}

/// The function name and argument of an intrinsic: `!Ref X`, `{Ref: X}`, `{Fn::Sub: ...}`.
pub(crate) fn intrinsic(node: &Node) -> Option<(String, Node)> {
    if let Some(tag) = &node.tag {
        let func = match tag.as_str() {
            "Ref" | "Condition" => tag.clone(),
            other => format!("Fn::{other}"),
        };
        let mut arg = node.clone();
        arg.tag = None;
        return Some((func, arg));
    }
    match node.as_map() {
        Some([(k, v)])
            if k.name == "Ref" || k.name == "Condition" || k.name.starts_with("Fn::") =>
        {
            Some((k.name.clone(), v.clone()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_parameters_take_given_values_and_derive_the_stack_id_from_them() {
        let given: BTreeMap<String, String> = [
            ("AWS::StackName", "shop"),
            ("AWS::Region", "eu-west-1"),
            ("AWS::Partition", "aws-cn"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let p = Pseudo::new("file-stem", &given);
        assert_eq!(p.get("AWS::StackName"), Some("shop"));
        assert_eq!(p.get("AWS::AccountId"), Some("123456789012"));
        assert_eq!(
            p.get("AWS::StackId"),
            Some("arn:aws-cn:cloudformation:eu-west-1:123456789012:stack/shop/meshsim")
        );
        assert_eq!(
            Pseudo::new("file-stem", &BTreeMap::new()).get("AWS::StackName"),
            Some("file-stem")
        );
        for name in PSEUDO_PARAMETERS {
            assert!(p.get(name).is_some(), "{name}");
        }
        assert_eq!(p.get("AWS::NoValue"), None);
    }
}
