use kube::CustomResourceExt;
fn main() {
    print!("{}", serde_norway::to_string(&appstack::api::AppStack::crd()).unwrap());
}
